"""Temporal stabilisation of frame-by-frame output: a motion-compensated recursive average.

Upscaled one by one, consecutive frames of a clip disagree where nothing in the scene changed: each frame's LR
carries its own noise, and the model's tokens and detail follow it, so texture shimmers. Here each output frame is
blended with the previous *stabilised* frame warped onto it,

    y_t = (1 − w) · x_t + w · warp(y_{t−1}),   w = strength · exp(−(d / tolerance)²),

where the warp follows the optical flow of the bicubic frames (OpenCV's Farneback: the motion the camera saw,
independent of the model's output, and not the DIS flow the flicker measure uses), and ``d`` is how far the bicubic
frame differs from the previous bicubic frame warped the same way (grey levels of 255, smoothed over 5×5 px): where
the warp is right, ``d`` is noise and the blend averages independent looks at the same scene; where it is wrong (an
object moving on its own, an occlusion, a cut), ``d`` is large and the frame is kept as it is, so nothing ghosts. A
frame whose mean ``d`` exceeds ``cut`` grey levels restarts the recursion (a scene cut).

Since the warp resamples, the recursion also smooths a little; ``strength`` 0 switches it off.

With ``--temporal N`` a clip is steadied another way, :func:`fuse_outputs`: each output frame becomes the weighted
mean of the model's outputs for the frames of its window (up to N on each side), brought onto it along the
motion of their bicubic frames with the window guide's warp and weights
(:func:`realiisr.inference.window.window_motion`). Each output's detail follows its own frame's noise, so the mean
cancels what differs and keeps what the looks share; warped bicubically, centred and not recursive, it smooths
less than the blend. On held-out synthetic clips (``docs/video.md``) it adds to PSNR where the blend takes away
from it, and flickers less.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from realiisr.video.flicker import eight_bit_view

__all__ = ["TemporalStabiliser", "bicubic_of", "stabilise_frame", "fuse_outputs"]


class TemporalStabiliser:
    """Stateful: call it on each output frame in order with that frame's bicubic upscale (same size; both on
    ``value_range``, the clip's black and white: (0, 255) for 8-bit frames, the clip's one mapping for 16-bit)."""

    def __init__(self, strength: float = 0.6, tolerance: float = 6.0, cut: float = 20.0,
                 value_range: tuple[float, float] = (0.0, 255.0)) -> None:
        if not 0.0 <= strength < 1.0:
            raise ValueError(f"temporal stabilisation: strength must lie in [0, 1), got {strength}")
        self.strength, self.tolerance, self.cut = strength, tolerance, cut
        self.value_range = (float(value_range[0]), float(value_range[1]))
        self._previous: Optional[np.ndarray] = None  # the last stabilised frame
        self._previous_guide: Optional[np.ndarray] = None  # its bicubic frame, 8-bit

    def reset(self, frame: Optional[np.ndarray] = None, bicubic: Optional[np.ndarray] = None) -> None:
        """Forget the past, or start from a given stabilised frame and its bicubic (resuming a clip)."""
        self._previous = None if frame is None else frame.astype(np.float64)
        self._previous_guide = None if bicubic is None else eight_bit_view(bicubic, *self.value_range)

    def remember(self, frame: np.ndarray) -> None:
        """Replace the last stabilised frame by the one actually written (rounded, back-projected), so that a clip
        resumed from its written frames blends exactly as an uninterrupted run."""
        self._previous = frame.astype(np.float64)

    def __call__(self, frame: np.ndarray, bicubic: np.ndarray) -> np.ndarray:
        """The stabilised ``frame`` (float64, the input's scale); ``frame`` and ``bicubic`` are ``[H, W]``."""
        import cv2

        if frame.shape != bicubic.shape:
            raise ValueError(f"temporal stabilisation: frame {frame.shape} and bicubic {bicubic.shape} differ")
        current = frame.astype(np.float64)
        guide = eight_bit_view(bicubic, *self.value_range)
        previous, previous_guide = self._previous, self._previous_guide
        self._previous_guide = guide
        if self.strength == 0 or previous is None or previous.shape != current.shape:
            self._previous = current
            return current
        # where each pixel of the current frame was in the previous one
        flow = cv2.calcOpticalFlowFarneback(guide, previous_guide, None, 0.5, 4, 15, 3, 5, 1.1, 0)
        h, w = guide.shape
        grid_x, grid_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        map_x, map_y = grid_x + flow[..., 0], grid_y + flow[..., 1]
        warped_guide = cv2.remap(previous_guide.astype(np.float32), map_x, map_y, cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_REPLICATE)
        mismatch = cv2.blur(np.abs(guide.astype(np.float32) - warped_guide), (5, 5))
        inside = (map_x >= 0) & (map_x <= w - 1) & (map_y >= 0) & (map_y <= h - 1)  # not from outside the frame
        if float(mismatch.mean()) > self.cut:
            self._previous = current
            return current
        weight = self.strength * np.exp(-np.square(mismatch / self.tolerance)) * inside
        warped = cv2.remap(previous.astype(np.float32), map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        out = (1.0 - weight) * current + weight * warped.astype(np.float64)
        self._previous = out
        return out


def bicubic_of(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Pillow's bicubic of a grey LR frame to ``size`` (``[H, W]``), float64 in the frame's own scale: the guide
    a stabiliser is given (8-bit frames through Pillow's 8-bit path, as ``pil_bicubic(eight_bit=True)``)."""
    from PIL import Image

    image = Image.fromarray(frame) if frame.dtype == np.uint8 else Image.fromarray(frame.astype(np.float32), mode="F")
    return np.asarray(image.resize(size[::-1], Image.BICUBIC), dtype=np.float64)


def stabilise_frame(stabiliser: TemporalStabiliser, result: np.ndarray, frame: np.ndarray, *,
                    radiometric: bool = False) -> np.ndarray:
    """An output frame as a clip writes it: ``result`` (integer ``[H, W]``) blended with the clip's past, block means
    restored to the LR ``frame`` for a radiometric clip, rounded back to the result's type; the stabiliser then
    continues from this rounded frame, so a clip resumed from its written frames blends as an uninterrupted run."""
    written = _as_written(stabiliser(result, bicubic_of(frame, result.shape)), frame, result.dtype, radiometric)
    stabiliser.remember(written)
    return written


def _as_written(out: np.ndarray, frame: np.ndarray, dtype: np.dtype, radiometric: bool) -> np.ndarray:
    """A float output frame in its written scale → written: block means restored to the LR ``frame`` for a
    radiometric clip, rounded to ``dtype``."""
    import torch

    from realiisr.camera.radiometric import back_project

    if radiometric and out.ndim == 2 and out.shape[0] % frame.shape[0] == 0:
        out = back_project(torch.from_numpy(out), torch.from_numpy(frame.astype(np.float64)),
                           out.shape[0] // frame.shape[0]).numpy()
    info = np.iinfo(dtype)
    return np.clip(np.round(out), info.min, info.max).astype(dtype)


def fuse_outputs(outputs: Sequence[np.ndarray], frames: Sequence[np.ndarray], centre: int, *,
                 value_range: tuple[float, float] = (0.0, 255.0), radiometric: bool = False) -> np.ndarray:
    """Output frame ``centre`` of a window as a clip writes it with ``--temporal``: the weighted mean of the
    window's ``outputs`` (integer ``[H, W]``, or ``[H, W, 3]`` for a pseudo-colour clip, each channel along the
    same motion) warped onto it along the motion of the bicubic upscales of their LR ``frames`` (grey, or colour
    frames by their channel mean), block means restored for a ``radiometric`` clip, rounded to the outputs' type.
    ``value_range``: the clip's black and white (the 16-bit clip's one mapping)."""
    import torch

    from realiisr.inference.window import fuse_along, window_motion

    if len(outputs) != len(frames) or not 0 <= centre < len(outputs):
        raise ValueError(f"output fusion: {len(outputs)} outputs, {len(frames)} frames, centre {centre}")
    if len(outputs) == 1:
        return outputs[0]
    low, high = value_range
    size = outputs[centre].shape[:2]
    guides = [torch.from_numpy((bicubic_of(_grey(f), size) - low) / (high - low)).float()[None] for f in frames]
    planes = [torch.from_numpy((np.atleast_3d(o).transpose(2, 0, 1).astype(np.float64) - low) / (high - low))
              for o in outputs]
    fused = fuse_along(planes, centre, window_motion(guides, centre))
    out = fused.double().numpy().transpose(1, 2, 0) * (high - low) + low
    out = out[..., 0] if outputs[centre].ndim == 2 else out
    return _as_written(out, _grey(frames[centre]), outputs[centre].dtype, radiometric)


def _grey(frame: np.ndarray) -> np.ndarray:
    return np.round(frame.mean(axis=-1)).astype(frame.dtype) if frame.ndim == 3 else frame
