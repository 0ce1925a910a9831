"""Procedural thermal frames for demos and tests where no real infrared images are available.

A small stand-in for the physical scene model planned in the training issue: a sky-to-ground temperature
gradient, warm rectangular objects and round hot spots whose glow spreads past their edges, sensor noise
and fixed-pattern column stripes. The LR partner is a Gaussian-defocused, ×scale area-downsampled copy.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["thermal_frame", "degrade"]


def thermal_frame(height: int, width: int, *, generator: torch.Generator) -> torch.Tensor:
    """A ``[1, 1, H, W]`` frame in [0, 1]; deterministic for a given generator state."""
    rand = lambda *shape: torch.rand(*shape, generator=generator)  # noqa: E731
    y = torch.linspace(0, 1, height)[:, None].expand(height, width)
    x = torch.linspace(0, 1, width)[None, :].expand(height, width)
    horizon = 0.3 + 0.3 * float(rand(1))
    frame = torch.where(y < horizon, 0.15 + 0.1 * y, 0.35 + 0.15 * (y - horizon))
    for _ in range(int(3 + 5 * float(rand(1)))):  # buildings, vehicles: uniform warm rectangles
        x0, y0 = float(rand(1)) * 0.8, horizon - 0.1 + float(rand(1)) * 0.6
        w, h = 0.05 + 0.25 * float(rand(1)), 0.05 + 0.2 * float(rand(1))
        mask = (x >= x0) & (x < x0 + w) & (y >= y0) & (y < y0 + h)
        frame = torch.where(mask, 0.3 + 0.4 * float(rand(1)), frame)
    for _ in range(int(2 + 4 * float(rand(1)))):  # engines, people: hot spots with a spreading glow
        cx, cy = float(rand(1)), horizon + float(rand(1)) * (1 - horizon)
        radius = 0.01 + 0.04 * float(rand(1))
        dist = torch.sqrt((x - cx) ** 2 + ((y - cy) * height / width) ** 2)
        frame = frame + (0.4 + 0.4 * float(rand(1))) * torch.exp(-((dist / radius) ** 2) * math.log(2))
    frame = frame + 0.01 * torch.randn(height, width, generator=generator)
    frame = frame + 0.01 * torch.randn(1, width, generator=generator)  # column fixed-pattern noise
    frame = (frame - frame.min()) / (frame.max() - frame.min()).clamp_min(1e-6)
    return frame[None, None]


def degrade(hr: torch.Tensor, scale: int, *, sigma: float = 1.2) -> torch.Tensor:
    """Gaussian defocus then ``scale``× area down-sampling."""
    radius = max(1, int(3 * sigma))
    taps = torch.arange(-radius, radius + 1, dtype=hr.dtype)
    kernel = torch.exp(-(taps**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    blurred = F.conv2d(F.pad(hr, (radius, radius, 0, 0), mode="replicate"), kernel.view(1, 1, 1, -1))
    blurred = F.conv2d(F.pad(blurred, (0, 0, radius, radius), mode="replicate"), kernel.view(1, 1, -1, 1))
    return F.interpolate(blurred, scale_factor=1 / scale, mode="area")
