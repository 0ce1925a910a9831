"""Builtin recipes (registered on import; RECIPES imports this package on first lookup)."""
from realiisr.recipes import real_iisr  # noqa: F401
