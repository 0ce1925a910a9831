"""Radiometric frames: counts (or temperatures) that must keep their meaning through the upscale.

Two things make an output radiometric. One mapping for a whole sequence (:func:`shared_range`), so the same count
is the same grey level for the model in every frame. And consistency with the input (:func:`back_project`): the
mean of every ``scale × scale`` output block equals the input pixel it came from, so the mean temperature of any
region of whole blocks is the camera's — the model may move heat inside a pixel's footprint, never between pixels.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["back_project", "block_means", "shared_range"]


def shared_range(frames: Iterable[np.ndarray]) -> tuple[float, float]:
    """The ``(low, high)`` over all ``frames`` (the whole sequence's mapping; ``high > low`` always)."""
    low, high = np.inf, -np.inf
    for frame in frames:
        low, high = min(low, float(np.min(frame))), max(high, float(np.max(frame)))
    if not np.isfinite(low):
        raise ValueError("shared_range: no frames (or only NaN/Inf values)")
    return low, (high if high > low else low + 1.0)


def block_means(image: Tensor, scale: int) -> Tensor:
    """Mean of every ``scale × scale`` block of a ``[..., H, W]`` image (H, W multiples of ``scale``)."""
    return F.avg_pool2d(image.reshape(-1, 1, *image.shape[-2:]), scale).reshape(*image.shape[:-2], image.shape[-2] // scale,
                                                                                 image.shape[-1] // scale)


def back_project(sr: Tensor, lr: Tensor, scale: int, iterations: int = 6) -> Tensor:
    """``sr`` (``[H, W]``) corrected so that its ``scale × scale`` block means equal ``lr`` (``[h, w]``).

    Iterative back-projection with a bicubic-spread residual first (smooth corrections, no block pattern), then
    the small remainder added per block, which makes the block means equal ``lr`` to float rounding. In float64,
    unclipped: clipping would move the means again.
    """
    if sr.shape[-2:] != (lr.shape[-2] * scale, lr.shape[-1] * scale):
        raise ValueError(f"back_project: output {tuple(sr.shape)} is not ×{scale} of the input {tuple(lr.shape)}")
    out = sr.double()
    target = lr.double()
    for _ in range(iterations):
        residual = (target - block_means(out, scale))[None, None]
        out = out + F.interpolate(residual, scale_factor=scale, mode="bicubic", align_corners=False)[0, 0]
    remainder = target - block_means(out, scale)
    return out + remainder.repeat_interleave(scale, 0).repeat_interleave(scale, 1)
