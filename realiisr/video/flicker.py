"""Temporal stability of an upscaled clip: how much consecutive frames differ once the scene's motion is taken out.

For each pair of consecutive frames, the optical flow of the *reference* frames (bicubic upscales of the LR clip:
the motion the camera saw, not what the model made of it; OpenCV's DIS flow, medium preset) warps frame t+1 of
the clip under test back onto frame t; the flicker is the mean absolute difference over the inner region (a 5 %
border left out: flow is unreliable where the scene leaves the frame), in grey levels of 255, averaged over the
pairs. A model whose tile seams, token choices or grey-level fixes move from frame to frame scores above the
reference's own (noise and flow error); the ratio to bicubic's is what `realiisr evaluate --clip` reports.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

__all__ = ["flicker", "flicker_ratio", "eight_bit_view"]


def eight_bit_view(frame: np.ndarray, low: float, high: float) -> np.ndarray:
    """``frame`` mapped from [low, high] to uint8: what optical flow is computed on."""
    return np.clip(np.round((frame.astype(np.float64) - low) / (high - low) * 255), 0, 255).astype(np.uint8)


def _common_range(*clips: Sequence[np.ndarray]) -> tuple[float, float]:
    every = [f for clip in clips for f in clip]
    return min(float(np.min(f)) for f in every), max(float(np.max(f)) for f in every)


def flicker(frames: Sequence[np.ndarray], reference: Sequence[np.ndarray], border: float = 0.05,
            value_range: Optional[tuple[float, float]] = None) -> float:
    """Mean flow-compensated difference of consecutive ``frames`` (grey levels of 255 over ``value_range``,
    default the two clips' common range), the flow taken from ``reference`` (same count and size)."""
    try:
        import cv2
    except ImportError as exc:  # pragma: no cover - opencv comes with the metrics extra (pyiqa)
        raise ImportError("flicker needs OpenCV (pip install opencv-python-headless)") from exc
    if len(frames) != len(reference) or len(frames) < 2:
        raise ValueError(f"flicker: needs two clips of the same length >= 2, got {len(frames)} and {len(reference)}")
    if any(f.shape != r.shape for f, r in zip(frames, reference)):
        raise ValueError("flicker: the clip and its reference differ in frame size")
    low, high = value_range if value_range is not None else _common_range(frames, reference)
    high = high if high > low else low + 1.0
    test = [((np.clip(f.astype(np.float64), low, high) - low) / (high - low) * 255).astype(np.float32)
            for f in frames]  # unrounded: the difference is measured, only the flow needs 8 bits
    guide = [eight_bit_view(r, low, high) for r in reference]
    h, w = guide[0].shape
    dy, dx = int(round(h * border)), int(round(w * border))
    grid_x, grid_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    diffs = []
    for t in range(len(frames) - 1):
        flow = dis.calc(guide[t], guide[t + 1], None)  # where each pixel of frame t went in frame t+1
        warped = cv2.remap(test[t + 1], grid_x + flow[..., 0], grid_y + flow[..., 1], cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE)
        diffs.append(float(np.abs(test[t] - warped)[dy : h - dy, dx : w - dx].mean()))
    return float(np.mean(diffs))


def flicker_ratio(frames: Sequence[np.ndarray], bicubic: Sequence[np.ndarray],
                  value_range: Optional[tuple[float, float]] = None) -> tuple[float, float, float]:
    """(flicker of ``frames``, flicker of ``bicubic``, their ratio), both with the bicubic frames' flow and one
    grey-level scale (``value_range``, default the two clips' common range)."""
    value_range = value_range if value_range is not None else _common_range(frames, bicubic)
    test, base = flicker(frames, bicubic, value_range=value_range), flicker(bicubic, bicubic, value_range=value_range)
    return test, base, test / base if base > 0 else float("inf")
