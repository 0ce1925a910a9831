"""Builtin generators (registered on import; GENERATORS imports this package on first lookup)."""
from realiisr.generators import var  # noqa: F401
