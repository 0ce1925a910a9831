"""Builtin guidance (registered on import; GUIDANCE imports this package on first lookup)."""
from realiisr.guidance import tsg  # noqa: F401
