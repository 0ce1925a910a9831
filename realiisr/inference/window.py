"""Multi-frame input for the window model (``realiisr upscale CLIP --temporal N``).

A clip gives several sub-pixel-shifted looks at one scene. The neighbours of frame t (up to ``N`` on each side)
are brought onto it and averaged, on the output grid, into the **window guide**: the image the model reads in
place of frame t's own bicubic upscale — its guidance (TSG) and its LR-conditioned decoder both see it.

    guide_t = (b_t + Σ_k w_k · warp_k(b_k)) / (1 + Σ_k w_k),   w_k = exp(−(d_k / tolerance)²)

``b_k`` is Pillow's bicubic of LR frame k, ``warp_k`` follows the optical flow from ``b_t`` to ``b_k`` (OpenCV's
Farneback on their 8-bit views shrunk ×2: on the synthetic test clip the same scores as at full size in 0.4× the
time; the flicker metric uses a different flow, DIS), resampled bicubically, and ``d_k``
is the 5×5-smoothed disagreement of the warped neighbour with ``b_t`` in grey levels of 255. Where the warp is
right, ``d_k`` is noise and the average cancels each frame's own noise and the aliasing that differs between
frames; where it is wrong (an object moving on its own, an occlusion, a cut, outside the frame) ``w_k`` is ~0 and
frame t stands alone, so nothing ghosts.

The average is then **back-projected** onto the window's LR frames (:func:`back_project_window`, ``iterations``
passes; the shipped window model was trained on 3): it is warped into each frame, its pixel means are compared
with that frame's LR pixels, and the bicubic upscale of each residual is warped back and added with the same
weights. The guide then agrees with every look's pixels, which is where their different sub-pixel phases become
detail: on held-out synthetic clips the back-projected guide scores ~0.8 dB above the average, the model's output
~0.5 dB (``docs/video.md``). The same functions make the training windows (:mod:`realiisr.video.window_data`), so the
model learns on exactly what it is given.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import Tensor

from realiisr.data.io import pil_bicubic

__all__ = ["window_guide", "window_motion", "fuse_along", "back_project_window", "bicubic_frames", "window_indices"]


def window_indices(index: int, count: int, radius: int) -> list[int]:
    """The frames of ``index``'s window in a clip of ``count`` frames: up to ``radius`` on each side."""
    return list(range(max(0, index - radius), min(count, index + radius + 1)))


def bicubic_frames(frames: Sequence[Tensor], scale: int, eight_bit: bool = True) -> list[Tensor]:
    """Each ``[1, h, w]`` LR frame in [0, 1] → its Pillow bicubic ×``scale`` (the model's input convention)."""
    return [pil_bicubic(f, f.shape[-2] * scale, f.shape[-1] * scale, eight_bit) for f in frames]


def _eight_bit(frame: np.ndarray) -> np.ndarray:
    return np.clip(np.round(frame * 255), 0, 255).astype(np.uint8)


def _flow(reference8: np.ndarray, other8: np.ndarray, shrink: int) -> np.ndarray:
    """Farneback flow from ``reference8`` to ``other8`` (where each pixel of the reference lies in the other),
    computed on both shrunk ``shrink`` times by area and brought back to full size."""
    import cv2

    if shrink == 1:
        return cv2.calcOpticalFlowFarneback(reference8, other8, None, 0.5, 4, 15, 3, 5, 1.1, 0)
    h, w = reference8.shape
    small = (max(1, w // shrink), max(1, h // shrink))
    a, b = (cv2.resize(f, small, interpolation=cv2.INTER_AREA) for f in (reference8, other8))
    flow = cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 15, 3, 5, 1.1, 0)
    flow = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR)
    flow[..., 0] *= w / small[0]
    flow[..., 1] *= h / small[1]
    return flow


def window_motion(upsampled: Sequence[Tensor], centre: int, *, tolerance: float = 6.0,
                  flow_shrink: int = 2) -> list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
    """How the window's bicubic frames (``[1, H, W]`` in [0, 1]) line up with frame ``centre``: for each other
    frame ``k``, ``(k, map_x, map_y, weight)``, where each pixel of frame ``centre`` lies in frame ``k`` (OpenCV
    remap maps) and how far to trust it there (``exp(−(d/tolerance)²)``, 0 for pixels from outside the frame).
    ``flow_shrink``: the flow is computed on the frames shrunk this many times."""
    import cv2

    if not 0 <= centre < len(upsampled):
        raise ValueError(f"window guide: centre {centre} outside a window of {len(upsampled)} frames")
    shapes = {tuple(f.shape) for f in upsampled}
    if len(shapes) != 1:
        raise ValueError(f"window guide: the window's frames differ in size: {sorted(shapes)}")
    reference = upsampled[centre][0].double().numpy()
    reference8 = _eight_bit(reference)
    h, w = reference.shape
    grid_x, grid_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    motion = []
    for k, frame in enumerate(upsampled):
        if k == centre:
            continue
        other = frame[0].double().numpy()
        flow = _flow(reference8, _eight_bit(other), flow_shrink)
        map_x, map_y = grid_x + flow[..., 0], grid_y + flow[..., 1]
        warped = cv2.remap(other.astype(np.float32), map_x, map_y, cv2.INTER_CUBIC,
                           borderMode=cv2.BORDER_REPLICATE).astype(np.float64)
        mismatch = cv2.blur(np.abs(reference - warped).astype(np.float32) * 255, (5, 5)).astype(np.float64)
        inside = (map_x >= 0) & (map_x <= w - 1) & (map_y >= 0) & (map_y <= h - 1)
        motion.append((k, map_x, map_y, np.exp(-np.square(mismatch / tolerance)) * inside))
    return motion


def fuse_along(frames: Sequence[Tensor], centre: int,
               motion: Sequence[tuple[int, np.ndarray, np.ndarray, np.ndarray]]) -> Tensor:
    """The weighted mean of ``frames[centre]`` and the other frames (``[C, H, W]`` in [0, 1], any channel count)
    warped onto it along ``motion`` (:func:`window_motion`), in [0, 1]."""
    import cv2

    total = frames[centre].double().numpy().copy()
    weights = np.ones(total.shape[-2:])
    for k, map_x, map_y, weight in motion:
        other = frames[k].float().numpy()
        if other.shape != total.shape:
            raise ValueError(f"window fusion: frame {k} is {tuple(other.shape)}, frame {centre} {tuple(total.shape)}")
        warped = np.stack([cv2.remap(channel, map_x, map_y, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
                           for channel in other]).astype(np.float64)
        total += weight * warped
        weights += weight
    return torch.from_numpy(total / weights).float().clamp(0, 1)


def back_project_window(guide: Tensor, lows: Sequence[Tensor], upsampled: Sequence[Tensor], centre: int,
                        motion: Sequence[tuple[int, np.ndarray, np.ndarray, np.ndarray]], *, iterations: int = 3,
                        flow_shrink: int = 2) -> Tensor:
    """``guide`` (``[1, H, W]`` in [0, 1], on frame ``centre``'s grid) refined so that each LR frame of the window
    (``lows``, ``[1, h, w]``) is the ``H/h`` × ``H/h`` pixel mean of it seen from that frame: iterative
    back-projection (Irani & Peleg 1991) over the window. Each pass warps the guide into every frame (the flow
    from that frame's bicubic ``upsampled[k]`` to the centre's), takes the pixel means, and adds the bicubic
    upscale of each frame's residual, warped back along ``motion`` (:func:`window_motion`) and averaged with
    its weights; frame ``centre`` itself counts with weight 1. With one frame it is single-frame back-projection."""
    import cv2
    import torch.nn.functional as F

    scale = guide.shape[-1] // lows[centre].shape[-1]
    out = guide[0].double().numpy().copy()
    h, w = out.shape
    grid_x, grid_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    reference8 = _eight_bit(upsampled[centre][0].double().numpy())
    into = {}  # for each other frame: where each of its pixels lies on the centre's grid
    for k, *_ in motion:
        flow = _flow(_eight_bit(upsampled[k][0].double().numpy()), reference8, flow_shrink)
        into[k] = (grid_x + flow[..., 0], grid_y + flow[..., 1])

    def warp(image: np.ndarray, map_x: np.ndarray, map_y: np.ndarray) -> np.ndarray:
        return cv2.remap(image.astype(np.float32), map_x, map_y, cv2.INTER_CUBIC,
                         borderMode=cv2.BORDER_REPLICATE).astype(np.float64)

    def residual(seen: np.ndarray, low: Tensor) -> np.ndarray:
        means = F.avg_pool2d(torch.from_numpy(seen)[None, None], scale)[0, 0]
        spread = F.interpolate((low[0].double() - means)[None, None], scale_factor=scale, mode="bicubic",
                               align_corners=False)
        return spread[0, 0].numpy()

    for _ in range(iterations):
        total, weights = residual(out, lows[centre]), np.ones_like(out)
        for k, map_x, map_y, weight in motion:
            total += weight * warp(residual(warp(out, *into[k]), lows[k]), map_x, map_y)
            weights += weight
        out = out + total / weights
    return torch.from_numpy(out).float().clamp(0, 1)[None]


def window_guide(upsampled: Sequence[Tensor], centre: int, *, tolerance: float = 6.0, flow_shrink: int = 2,
                 lows: Sequence[Tensor] = (), iterations: int = 0) -> Tensor:
    """The window guide of frame ``centre`` from the bicubic frames of its window (``[1, H, W]`` in [0, 1],
    see :func:`bicubic_frames`); a window of one frame gives that frame back. ``flow_shrink``: the flow is
    computed on the frames shrunk this many times. With the window's LR frames ``lows`` and ``iterations`` > 0,
    the fused guide is then back-projected onto them (:func:`back_project_window`)."""
    motion = window_motion(upsampled, centre, tolerance=tolerance, flow_shrink=flow_shrink)
    guide = fuse_along(upsampled, centre, motion) if motion else upsampled[centre].float().clamp(0, 1)
    if iterations > 0 and lows:
        guide = back_project_window(guide, lows, upsampled, centre, motion, iterations=iterations,
                                    flow_shrink=flow_shrink)
    return guide
