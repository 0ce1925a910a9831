"""Pseudo-colour palettes of thermal cameras and viewers: each a colour curve from cold (0) to hot (1).

Built in: ``white-hot`` and ``black-hot`` (grey), ``ironbow`` (black → blue → magenta → orange → yellow →
white), ``rainbow`` / ``jet`` (matplotlib's jet), ``lava`` (black → blue → teal → green → yellow → red →
white), ``arctic`` (dark blue → blue → cyan → white → gold), and matplotlib's ``inferno``, ``magma``, ``plasma``,
``viridis`` and ``turbo`` (their own 256-entry tables). The camera makers' ironbow, lava and arctic are given by
control points that follow their published colour bars; a camera whose bar differs is matched exactly by a
palette read from an image of its bar (:func:`palette_from_image`).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence, Union

import numpy as np

from realiisr.camera._palette_data import MATPLOTLIB_TABLES

__all__ = ["Palette", "PALETTE_NAMES", "get_palette", "palette_from_image", "palette_from_points"]

# (position, (r, g, b)) control points, linear in between
_POINTS: dict[str, Sequence[tuple[float, tuple[int, int, int]]]] = {
    "white-hot": [(0.0, (0, 0, 0)), (1.0, (255, 255, 255))],
    "black-hot": [(0.0, (255, 255, 255)), (1.0, (0, 0, 0))],
    "ironbow": [(0.0, (0, 0, 0)), (0.12, (20, 0, 90)), (0.3, (120, 0, 150)), (0.48, (205, 30, 110)),
                (0.64, (240, 100, 20)), (0.8, (255, 175, 0)), (0.92, (255, 230, 80)), (1.0, (255, 255, 255))],
    # matplotlib's jet, from its segment data
    "jet": [(0.0, (0, 0, 128)), (0.11, (0, 0, 255)), (0.125, (0, 0, 255)), (0.34, (0, 219, 255)),
            (0.35, (0, 229, 247)), (0.375, (20, 255, 226)), (0.64, (247, 255, 0)), (0.65, (255, 240, 0)),
            (0.66, (255, 226, 0)), (0.89, (255, 28, 0)), (0.91, (232, 0, 0)), (1.0, (128, 0, 0))],
    "lava": [(0.0, (0, 0, 0)), (0.15, (20, 30, 120)), (0.3, (20, 110, 140)), (0.45, (40, 160, 60)),
             (0.6, (200, 200, 0)), (0.78, (230, 60, 0)), (0.9, (250, 150, 120)), (1.0, (255, 255, 255))],
    "arctic": [(0.0, (10, 10, 60)), (0.25, (20, 60, 200)), (0.5, (60, 200, 230)), (0.7, (230, 240, 240)),
               (0.85, (250, 200, 60)), (1.0, (255, 160, 0))],
}
_ALIASES = {"rainbow": "jet", "grey": "white-hot", "gray": "white-hot", "iron": "ironbow"}
PALETTE_NAMES = tuple(sorted([*_POINTS, *MATPLOTLIB_TABLES, *_ALIASES]))


@dataclass(frozen=True)
class Palette:
    """A palette as a dense colour table: ``table[i]`` is the RGB (0–255, float) of the value ``i / (n − 1)``."""

    name: str
    table: np.ndarray  # [n, 3] float64

    def __post_init__(self) -> None:
        if self.table.ndim != 2 or self.table.shape[1] != 3 or self.table.shape[0] < 2:
            raise ValueError(f"palette {self.name!r}: expected an [n >= 2, 3] colour table, got {self.table.shape}")

    @property
    def is_grey(self) -> bool:
        return bool(np.abs(self.table - self.table.mean(axis=1, keepdims=True)).max() < 1.0)

    def colour(self, values: np.ndarray) -> np.ndarray:
        """``values`` in [0, 1] (any shape) → RGB ``uint8`` (``[..., 3]``), linear between table entries."""
        values = np.clip(np.asarray(values, dtype=np.float64), 0.0, 1.0)
        position = values * (len(self.table) - 1)
        low = np.minimum(np.floor(position).astype(np.int64), len(self.table) - 2)
        frac = (position - low)[..., None]
        rgb = self.table[low] * (1 - frac) + self.table[low + 1] * frac
        return np.clip(np.round(rgb), 0, 255).astype(np.uint8)


def palette_from_points(name: str, points: Sequence[tuple[float, tuple[int, int, int]]], size: int = 1024) -> Palette:
    positions = np.array([p for p, _ in points], dtype=np.float64)
    colours = np.array([c for _, c in points], dtype=np.float64)
    if positions[0] != 0.0 or positions[-1] != 1.0 or np.any(np.diff(positions) <= 0):
        raise ValueError(f"palette {name!r}: control points must rise from 0 to 1")
    grid = np.linspace(0.0, 1.0, size)
    return Palette(name, np.stack([np.interp(grid, positions, colours[:, c]) for c in range(3)], axis=1))


def _from_table(name: str, table: np.ndarray, size: int = 1024) -> Palette:
    """A dense palette from an ``[n, 3]`` table (linear in between), so a decoded value is finer than 1/n."""
    grid = np.linspace(0.0, 1.0, size)
    at = np.linspace(0.0, 1.0, len(table))
    return Palette(name, np.stack([np.interp(grid, at, table[:, c]) for c in range(3)], axis=1))


def get_palette(name: str) -> Palette:
    """A built-in palette by name (see the module doc; ``rainbow`` is ``jet``, ``grey`` is ``white-hot``)."""
    key = _ALIASES.get(name.lower(), name.lower())
    if key in _POINTS:
        return palette_from_points(name, _POINTS[key])
    if key in MATPLOTLIB_TABLES:
        table = np.frombuffer(bytes.fromhex("".join(MATPLOTLIB_TABLES[key])), dtype=np.uint8).reshape(-1, 3)
        return _from_table(name, table.astype(np.float64))
    raise ValueError(f"unknown palette {name!r}; built in: {', '.join(PALETTE_NAMES)} (or a 256x1 image file)")


def palette_from_image(path: Union[str, Path]) -> Palette:
    """A palette from an image of a colour bar: one row or one column (the longer side runs cold → hot: left to
    right, or bottom to top for a column, as cameras draw their bars). A wider bar is averaged across."""
    from PIL import Image

    path = Path(path)
    try:
        with Image.open(path) as image:
            rgb = np.asarray(image.convert("RGB"), dtype=np.float64)
    except (OSError, ValueError) as exc:
        raise ValueError(f"palette file {path}: cannot read it as an image ({exc})") from exc
    h, w, _ = rgb.shape
    if max(h, w) < 16:
        raise ValueError(f"palette file {path}: a colour bar needs at least 16 entries along its length, got {w}x{h}")
    table = rgb.mean(axis=0) if w >= h else rgb.mean(axis=1)[::-1]
    return _from_table(path.stem, table)
