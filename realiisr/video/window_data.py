"""Training windows for the window model: one HR crop seen by a moving camera, each look degraded on its own.

An item is a short synthetic clip around one HR crop: ``2·radius + 1`` frames whose camera follows a pan, a hand
shake (a random walk) and a slight zoom, all sub-pixel to a few pixels, resampled bilinearly from a crop with a
margin; the centre frame is the crop itself, the HR target. Every frame goes through the degradation pipeline.
The optics (blur, down-sampling, the camera's AGC and fixed-pattern stripes) draw the same values for all frames
of a window, as one camera at one focus would; sensor noise, real noise patches and shake blur draw anew for
each frame. The LR frames are upscaled bicubically and fused by :func:`realiisr.inference.window.window_guide`
onto the centre frame — with ``back_projection`` > 0 then back-projected onto every LR frame of the window in that
many passes (:func:`realiisr.inference.window.back_project_window`) — the model's ``lr`` input, exactly as ``realiisr
upscale --temporal`` builds it. A fifth of the windows are shorter (as at a clip's ends), down to the centre frame
alone.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from realiisr.data.datasets import DataError, DegradedThermalDataset, _to_model, item_generator
from realiisr.data.io import pil_bicubic
from realiisr.inference.window import window_guide

__all__ = ["WindowDegradedDataset", "PER_FRAME_STEPS"]

#: Degradation steps that draw anew for every frame of a window; the others are the camera's and shared.
PER_FRAME_STEPS = frozenset({"sensor_noise", "real_noise", "motion_blur"})


class WindowDegradedDataset(DegradedThermalDataset):
    """:class:`~realiisr.data.datasets.DegradedThermalDataset` whose ``lr`` is the window guide of a moving
    camera's ``2·radius + 1`` frames. ``margin``: HR pixels around the crop the camera may move into (frames
    must be at least ``crop + 2·margin`` on each side; the packed 144² crops allow the default 8)."""

    def __init__(self, source: Any, *, radius: int = 2, margin: int = 8, pan: float = 1.0, shake: float = 0.3,
                 zoom: float = 0.003, short_windows: float = 0.2, back_projection: int = 0, **kwargs: Any) -> None:
        if kwargs.get("negatives"):
            raise DataError("window training has no negative samples")
        super().__init__(source, **kwargs)
        if radius < 1:
            raise DataError(f"a training window needs radius >= 1, got {radius}")
        self.radius, self.margin, self.pan, self.shake, self.zoom = radius, margin, pan, shake, zoom
        self.short_windows, self.back_projection = short_windows, back_projection

    def _path(self, generator: torch.Generator) -> list[tuple[float, float, float]]:
        """(dy, dx, zoom) of each frame relative to the centre frame, which is (0, 0, 1)."""
        r = self.radius
        pan = (torch.rand(2, generator=generator) * 2 - 1) * self.pan
        steps = torch.randn(2 * r + 1, 2, generator=generator) * self.shake
        walk = steps.cumsum(0)
        walk = walk - walk[r]
        rate = float(torch.rand((), generator=generator) * 2 - 1) * self.zoom
        path = []
        for k in range(-r, r + 1):
            dy, dx = (pan * k + walk[k + r]).tolist()
            limit = self.margin - 1
            path.append((max(-limit, min(limit, dy)), max(-limit, min(limit, dx)), 1.0 + rate * k))
        return path

    def _look(self, big: Tensor, dy: float, dx: float, zoom: float) -> Tensor:
        """The ``crop``² view of ``big`` (``[1, crop + 2m, crop + 2m]``) moved by (dy, dx) and zoomed about its centre."""
        m, size = self.margin, self.crop
        if dy == 0 and dx == 0 and zoom == 1.0:
            return big[:, m : m + size, m : m + size]
        side = big.shape[-1]
        coords = (torch.arange(size, dtype=torch.float64) - (size - 1) / 2) / zoom + (side - 1) / 2
        ys, xs = torch.meshgrid(coords + dy, coords + dx, indexing="ij")
        grid = torch.stack([xs / (side - 1) * 2 - 1, ys / (side - 1) * 2 - 1], dim=-1)[None].float()
        return F.grid_sample(big[None].float(), grid, mode="bilinear", align_corners=True)[0].clamp(0, 1)

    def _degrade(self, frame: Tensor, clip_seed: int, look: int) -> Tensor:
        for i, (spec, step) in enumerate(zip(self.pipeline.specs, self.pipeline.steps)):
            own = spec.get("type") in PER_FRAME_STEPS
            frame = step(frame, torch.Generator().manual_seed(clip_seed + i + (1000 * (look + 1) if own else 0)))
        return frame

    def __getitem__(self, key) -> dict:
        epoch, index = key if isinstance(key, tuple) else (self.epoch, key)
        frame_index = index % len(self.frames)
        generator = item_generator(self.seed, epoch, index)
        frame = self._frame(frame_index)
        size, m = self.crop, self.margin
        h, w = frame.shape[-2:]
        if h < size + 2 * m or w < size + 2 * m:
            raise DataError(f"frame {self.frames[frame_index]} is {w}x{h}, smaller than the {size}x{size} crop "
                            f"with the camera's {m}-pixel margin")
        top = int(torch.randint(h - size - 2 * m + 1, (), generator=generator))
        left = int(torch.randint(w - size - 2 * m + 1, (), generator=generator))
        big = frame[:, top : top + size + 2 * m, left : left + size + 2 * m].float()
        if self.contrast:
            factor = 1 + self.contrast * (2 * float(torch.rand((), generator=generator)) - 1)
            big = ((big - big.mean()) * factor + big.mean()).clamp(0, 1)
        if self.augment:
            flip, turns = bool(torch.randint(2, (), generator=generator)), int(torch.randint(4, (), generator=generator))
            big = torch.rot90(big.flip(-1) if flip else big, turns, dims=(-2, -1))
        path = self._path(generator)
        radius = self.radius
        if float(torch.rand((), generator=generator)) < self.short_windows:
            radius = int(torch.randint(self.radius, (), generator=generator))  # 0 .. radius-1
        clip_seed = int(torch.randint(2**31 - 1 - 1000 * (2 * self.radius + 2), (), generator=generator))
        looks = range(self.radius - radius, self.radius + radius + 1)
        upsampled, lows = [], []
        for look in looks:
            lr = self._degrade(self._look(big, *path[look]), clip_seed, look)
            if lr.shape[-1] * self.scale != size:
                raise DataError(f"the degradation pipeline must end at 1/{self.scale} of the crop, got {tuple(lr.shape)}")
            upsampled.append(pil_bicubic(lr, size, size))
            lows.append(lr)
        guide = window_guide(upsampled, radius, lows=lows, iterations=self.back_projection)
        hr = big[:, m : m + size, m : m + size]
        return {"lr": _to_model(guide), "hr": _to_model(hr), "label": 0, "name": f"window{frame_index}"}
