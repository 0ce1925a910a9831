"""Builtin physics losses (registered on import; PHYSICS_LOSSES imports this package on first lookup)."""
from realiisr.losses import pixel, thermal_order  # noqa: F401
