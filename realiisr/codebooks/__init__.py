"""Builtin codebooks (registered on import; the registry imports this package on first lookup)."""
