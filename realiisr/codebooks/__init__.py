"""Builtin codebooks (registered on import; CODEBOOKS imports this package on first lookup)."""
from realiisr.codebooks import cac, vq  # noqa: F401
