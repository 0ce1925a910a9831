"""Pseudo-colour thermal frames: the scalar behind the colours, and the colours back on an upscaled scalar.

A palette frame's luminance is not its temperature (rainbow's luminance falls and rises again along the bar), so
the scalar is recovered as the position of the nearest colour on the palette's curve. Pixels farther than
``tolerance`` from the curve (burnt-in text, crosshairs, logos in another colour) are off the palette: their
scalar is filled in from the pixels around them before upscaling, and their own colours are pasted back, enlarged,
over the re-coloured output, so overlays stay legible and never turn into false temperatures.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Optional, Union

import numpy as np
import torch

from realiisr.camera.palettes import PALETTE_NAMES, Palette, get_palette

__all__ = ["DecodedFrame", "decode_colour_frame", "detect_palette", "is_colour", "recolour"]

_LOG = logging.getLogger(__name__)
TOLERANCE = 40.0  # RGB distance (0–255 units) still on the palette: JPEG (chroma subsampling) moves 99 % of a
# palette frame's colours by less (q75, real 128² frame: median 4–7, 99th percentile 32–47 for inferno, ironbow, jet)
MIN_FIT = 0.9  # share of pixels on the palette for auto-detection to accept it
# one entry per curve (aliases and the grey pair are not candidates for a colour frame)
_CANDIDATES = tuple(n for n in PALETTE_NAMES if n not in ("rainbow", "grey", "gray", "iron", "white-hot", "black-hot"))


@dataclass
class DecodedFrame:
    """A colour frame's scalar ``values`` (``[h, w]`` in [0, 1]), the ``palette`` they came from, the pixels
    off it (``off_palette``, ``[h, w]`` bool) and those pixels' own colours (``rgb``, ``[h, w, 3]`` uint8)."""

    values: np.ndarray
    palette: Palette
    off_palette: np.ndarray
    rgb: np.ndarray

    @property
    def off_fraction(self) -> float:
        return float(self.off_palette.mean())


def is_colour(rgb: np.ndarray, spread: float = 12.0, share: float = 0.01) -> bool:
    """Whether more than ``share`` of the pixels have channels more than ``spread`` apart (a grey frame saved
    as RGB, with JPEG's small chroma errors, is not colour)."""
    rgb = rgb[..., :3].astype(np.int16)
    return bool(((rgb.max(axis=-1) - rgb.min(axis=-1)) > spread).mean() > share)


def _distinct(rgb: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
    """The frame's distinct colours (``[n, 3]`` float32) and each pixel's index into them."""
    flat = rgb[..., :3].reshape(-1, 3).astype(np.int64)
    codes, inverse = np.unique((flat[:, 0] << 16) | (flat[:, 1] << 8) | flat[:, 2], return_inverse=True)
    colours = np.stack([(codes >> 16) & 255, (codes >> 8) & 255, codes & 255], axis=1).astype(np.float32)
    return torch.from_numpy(colours), inverse.reshape(-1)


def _nearest_distinct(colours: torch.Tensor, palette: Palette) -> tuple[np.ndarray, np.ndarray]:
    """Position on the palette (in [0, 1]) and RGB distance of each colour's nearest table entry."""
    table = torch.from_numpy(palette.table.astype(np.float32))
    index = torch.empty(len(colours), dtype=torch.long)
    distance = torch.empty(len(colours))
    for start in range(0, len(colours), 16384):
        d = torch.cdist(colours[start : start + 16384], table)
        distance[start : start + 16384], index[start : start + 16384] = d.min(dim=1)
    return index.double().numpy() / (len(palette.table) - 1), distance.double().numpy()


def _nearest(rgb: np.ndarray, palette: Palette) -> tuple[np.ndarray, np.ndarray]:
    """Position on the palette (``[h, w]`` in [0, 1]) and RGB distance of every pixel's nearest table entry;
    computed once per distinct colour."""
    colours, inverse = _distinct(rgb)
    position, distance = _nearest_distinct(colours, palette)
    return position[inverse].reshape(rgb.shape[:2]), distance[inverse].reshape(rgb.shape[:2])


def detect_palette(rgb: np.ndarray, tolerance: float = TOLERANCE) -> tuple[Optional[Palette], dict[str, float]]:
    """The built-in palette that most pixels of ``rgb`` lie on (ties: the closer fit), or ``None`` where none
    holds :data:`MIN_FIT` of them; with each candidate's share of pixels on it."""
    colours, inverse = _distinct(rgb)
    pixels = np.bincount(inverse, minlength=len(colours)).astype(np.float64)  # how many pixels have each colour
    scores: dict[str, tuple[float, float]] = {}
    for name in _CANDIDATES:
        _, distance = _nearest_distinct(colours, get_palette(name))
        on = distance <= tolerance
        share = float(pixels[on].sum() / pixels.sum())
        scores[name] = (share, float((distance * pixels)[on].sum() / pixels[on].sum()) if on.any() else float("inf"))
    best = max(scores, key=lambda n: (round(scores[n][0], 3), -scores[n][1]))
    shares = {n: s for n, (s, _) in sorted(scores.items(), key=lambda kv: -kv[1][0])}
    return (get_palette(best) if scores[best][0] >= MIN_FIT else None), shares


def _fill(values: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Values under ``hole`` from the pixels around them (normalised convolution with a growing box), so that
    an overlay's scalar is its surroundings', not the palette position of its colour."""
    if not hole.any():
        return values
    known = torch.from_numpy((~hole).astype(np.float64))[None, None]
    data = torch.from_numpy(np.where(hole, 0.0, values))[None, None]
    out = data.clone()
    missing = torch.from_numpy(hole.copy())[None, None]  # a copy: the caller keeps its mask
    radius = 1
    while missing.any() and radius < max(values.shape):
        k = 2 * radius + 1
        box = torch.ones(1, 1, k, k, dtype=torch.float64)
        weight = torch.nn.functional.conv2d(known, box, padding=radius)
        total = torch.nn.functional.conv2d(data, box, padding=radius)
        reach = missing & (weight > 0)
        out[reach] = (total / weight.clamp_min(1e-12))[reach]
        missing &= ~reach
        radius *= 2
    return out[0, 0].numpy()


def decode_colour_frame(rgb: np.ndarray, palette: Union[Palette, str] = "auto", *, tolerance: float = TOLERANCE,
                        what: str = "frame") -> DecodedFrame:
    """The scalar frame behind a pseudo-colour ``rgb`` frame (``[h, w, 3]`` uint8).

    ``palette``: a :class:`Palette`, a built-in name, or ``"auto"`` (:func:`detect_palette`). Raises
    ``ValueError`` naming ``what`` where no palette fits (auto) or most pixels are off the given one.
    """
    rgb = np.ascontiguousarray(rgb[..., :3])
    if isinstance(palette, str) and palette == "auto":
        found, shares = detect_palette(rgb, tolerance)
        if found is None:
            closest = ", ".join(f"{n} {100 * s:.0f} %" for n, s in list(shares.items())[:3])
            raise ValueError(
                f"{what}: a colour frame that fits no built-in palette (pixels on the closest: {closest}); pass "
                f"--palette FILE (an image of the camera's colour bar) or --palette none for the luminance")
        palette = found
    elif isinstance(palette, str):
        palette = get_palette(palette)
    values, distance = _nearest(rgb, palette)
    off = distance > tolerance
    if off.mean() > 1 - MIN_FIT:
        raise ValueError(f"{what}: {100 * off.mean():.0f} % of the pixels are off the {palette.name} palette "
                         f"(more than {100 * (1 - MIN_FIT):.0f} %); is it another palette?")
    if off.any():
        _LOG.info("%s: %d pixels (%.2f %%) off the %s palette (overlays): kept as they are", what, int(off.sum()),
                  100 * off.mean(), palette.name)
    return DecodedFrame(_fill(values, off), palette, off, rgb)


def recolour(values: np.ndarray, decoded: DecodedFrame) -> np.ndarray:
    """The upscaled scalar ``values`` (``[H, W]`` in [0, 1], a whole multiple of the decoded frame's size) in
    the decoded frame's palette, with its off-palette pixels pasted back enlarged → ``[H, W, 3]`` uint8."""
    h, w = decoded.values.shape
    if values.shape[0] % h or values.shape[1] % w or values.shape[0] // h != values.shape[1] // w:
        raise ValueError(f"recolour: output {values.shape} is not a whole multiple of the frame's {(h, w)}")
    scale = values.shape[0] // h
    rgb = decoded.palette.colour(values)
    if decoded.off_palette.any():
        mask = decoded.off_palette.repeat(scale, axis=0).repeat(scale, axis=1)
        rgb[mask] = decoded.rgb.repeat(scale, axis=0).repeat(scale, axis=1)[mask]
    return rgb
