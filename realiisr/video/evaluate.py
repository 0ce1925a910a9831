"""Scoring a clip: flicker against bicubic's (real clips, where no HR exists) and PSNR against the true HR frames
(synthetic clips: :func:`synthetic_clip` moves a crop of an HR frame by sub-pixel camera motion and degrades each
frame on its own, so the frames are several shifted looks at one scene, as a drone's or a hand-held camera's are).

Both methods see the same LR frames; bicubic is Pillow's on 8-bit frames, as everywhere else in the project.
PSNR is raw and after each frame's least-squares gain/offset (the sweep's score), over the frame less an 8 HR px
border; flicker is :func:`realiisr.video.flicker.flicker` with the bicubic frames' flow.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from realiisr.data.io import pil_bicubic
from realiisr.evaluation.metrics import aligned_psnr, psnr
from realiisr.evaluation.sweep import DEFAULT_CAMERA, degrade_at
from realiisr.inference.window import window_indices
from realiisr.video.flicker import flicker
from realiisr.video.io import repeat_runs

__all__ = ["ClipScores", "synthetic_clip", "shrink_clip", "score_clip", "clip_frames", "frame_upscaler"]

_LOG = logging.getLogger(__name__)


@dataclass
class ClipScores:
    """One clip's scores: flicker of each method (and of the true HR, where known) and mean PSNRs."""

    frames: int
    flicker: dict[str, float]
    psnr: dict[str, float] = field(default_factory=dict)
    psnr_aligned: dict[str, float] = field(default_factory=dict)
    seconds_per_frame: Optional[float] = None

    def flicker_ratio(self, method: str) -> float:
        return self.flicker[method] / self.flicker["bicubic"] if self.flicker["bicubic"] > 0 else math.inf

    def markdown(self, method: str) -> str:
        lines = ["| method | flicker (GL) | × bicubic | PSNR | aligned PSNR |", "|---|---|---|---|---|"]
        for name in [m for m in ("bicubic", method, f"{method} frame by frame", "hr") if m in self.flicker]:
            lines.append(f"| {name} | {self.flicker[name]:.3f} | {self.flicker_ratio(name):.2f} | "
                         f"{self.psnr.get(name, float('nan')):.2f} | {self.psnr_aligned.get(name, float('nan')):.2f} |")
        return "\n".join(lines)


def synthetic_clip(hr: Tensor, count: int = 30, *, size: tuple[int, int] = (192, 256), scale: int = 4,
                   sigma: float = 2.5, seed: int = 0, camera: str = DEFAULT_CAMERA) -> tuple[list[Tensor], list[Tensor]]:
    """(LR frames, HR frames), each ``[1, h, w]`` in [0, 1]: an HR crop of ``size`` following a smooth pan plus
    hand shake (a random walk of ~0.3 HR px a frame on a pan of ~1 px a frame, sub-pixel throughout, bilinear
    resampling), each frame blurred by a Gaussian of ``sigma`` HR px, area-averaged ×``scale`` and put through the
    LR side of the ``camera`` degradation (:func:`realiisr.evaluation.sweep.degrade_at`; a preset name or a YAML
    file) with its own noise draw."""
    height, width = size
    if height % scale or width % scale:
        raise ValueError(f"synthetic_clip: size {size} must be a multiple of the scale {scale}")
    frame = hr.float().reshape(1, 1, *hr.shape[-2:])
    rng = np.random.default_rng(seed)
    pan = rng.uniform(-1.0, 1.0, 2)
    shake = np.cumsum(rng.normal(0.0, 0.3, (count, 2)), axis=0)
    path = np.arange(count)[:, None] * pan[None] + shake
    span = np.abs(path).max() + 2
    if frame.shape[-2] < height + 2 * span or frame.shape[-1] < width + 2 * span:
        raise ValueError(f"synthetic_clip: the HR frame {tuple(frame.shape[-2:])} is too small for a {size} crop "
                         f"moving by {span:.0f} px")
    top, left = (frame.shape[-2] - height) / 2, (frame.shape[-1] - width) / 2
    ys, xs = torch.meshgrid(torch.arange(height, dtype=torch.float64), torch.arange(width, dtype=torch.float64),
                            indexing="ij")
    lr_frames, hr_frames = [], []
    for t, (dy, dx) in enumerate(path):
        gy = (ys + top + dy) / (frame.shape[-2] - 1) * 2 - 1  # align_corners=True coordinates
        gx = (xs + left + dx) / (frame.shape[-1] - 1) * 2 - 1
        grid = torch.stack([gx, gy], dim=-1)[None].float()
        crop = F.grid_sample(frame, grid, mode="bilinear", align_corners=True)[0]
        hr_frames.append(crop.clamp(0, 1))
        lr_frames.append(degrade_at(crop, "gaussian", sigma, scale, seed * 1000 + t, camera))
    return lr_frames, hr_frames


def shrink_clip(frames: Sequence[Tensor], scale: int = 4) -> tuple[list[Tensor], list[Tensor]]:
    """(LR, HR): each frame cropped to a multiple of ``scale`` (the HR) and area-averaged ×``scale``, stored at
    8 bits (the LR): the pair of clips for a real HR clip that has no LR of its own (the TNO sequences)."""
    lr, hr = [], []
    for frame in frames:
        h, w = frame.shape[-2] // scale * scale, frame.shape[-1] // scale * scale
        hr.append(frame[..., :h, :w])
        small = F.avg_pool2d(frame[..., :h, :w].float().reshape(1, 1, h, w), scale)[0]
        lr.append(torch.round(small.clamp(0, 1) * 255) / 255)
    return lr, hr


def _eight_bit(frame: Tensor) -> np.ndarray:
    return np.clip(np.round(frame[0].double().numpy() * 255), 0, 255).astype(np.uint8)


def _numpy(frames: Sequence[Tensor]) -> list[np.ndarray]:
    return [f[0].double().numpy() * 255 for f in frames]


def score_clip(upscale: Callable[[Tensor], Tensor], lr_frames: Sequence[Tensor], hr_frames: Optional[Sequence[Tensor]] = None,
               *, method: str = "model", border: int = 8, stabilise: float = 0.0, temporal: int = 0,
               fuse_outputs: bool = True) -> ClipScores:
    """Upscale every frame of ``lr_frames`` with ``upscale`` (``[1, h, w]`` → ``[1, H, W]`` in [0, 1]; with
    ``temporal`` > 0 called as ``upscale(frame, window=frames, centre=k)`` with the frame's window of up to
    ``temporal`` frames on each side, and with ``fuse_outputs`` the outputs fused over that window,
    :func:`realiisr.video.stabilise.fuse_outputs`) and with bicubic; flicker of both (and of ``hr_frames``, where
    given) and mean PSNRs against ``hr_frames``. With the output fusion or ``stabilise`` > 0 (the blend),
    ``method`` is the output as ``realiisr upscale`` writes a clip (8-bit frames) and ``method + " frame by frame"``
    the model's frames before either. Repeated frames are upscaled once, as ``realiisr upscale``
    does (:func:`realiisr.video.io.repeat_runs`); ``seconds_per_frame`` counts every frame of the clip."""
    import time

    outputs: dict[str, list[Tensor]] = {"bicubic": [pil_bicubic(lr, lr.shape[-2] * 4, lr.shape[-1] * 4, eight_bit=True)
                                                    .clamp(0, 1) for lr in lr_frames], method: []}
    # as realiisr upscale runs a clip: a run of repeated frames is upscaled (and blended) once, windows hold
    # distinct frames, and each copy gets the run's output
    runs = list(repeat_runs(lr_frames))
    distinct, repeats = [lr for lr, _ in runs], [n for _, n in runs]
    model_frames: list[Tensor] = []
    spent = 0.0
    for index, lr in enumerate(distinct):
        start = time.perf_counter()
        if temporal:
            around = window_indices(index, len(distinct), temporal)
            window = [distinct[k] for k in around]
            model_frames.append(upscale(lr, window=window, centre=around.index(index)).clamp(0, 1))
        else:
            model_frames.append(upscale(lr).clamp(0, 1))
        spent += time.perf_counter() - start
        _LOG.info("clip frame %d/%d: %.2f s", index + 1, len(distinct), time.perf_counter() - start)
    methods, alone = [method], f"{method} frame by frame"
    if (temporal and fuse_outputs) or stabilise:
        outputs[alone] = _repeated(model_frames, repeats)
        methods.append(alone)
    if temporal and fuse_outputs and len(distinct) > 1:
        from realiisr.video.stabilise import fuse_outputs as fuse

        start = time.perf_counter()
        written, lows = [_eight_bit(frame) for frame in model_frames], [_eight_bit(lr) for lr in distinct]
        fused = []
        for index in range(len(distinct)):
            around = window_indices(index, len(distinct), temporal)
            fused.append(fuse([written[k] for k in around], [lows[k] for k in around], around.index(index)))
        model_frames = [torch.from_numpy(frame.astype(np.float32) / 255)[None] for frame in fused]
        spent += time.perf_counter() - start
    if stabilise:
        from realiisr.video.stabilise import TemporalStabiliser, stabilise_frame

        stabiliser = TemporalStabiliser(stabilise)
        written = [stabilise_frame(stabiliser, _eight_bit(frame), _eight_bit(lr))  # as realiisr upscale writes it
                   for frame, lr in zip(model_frames, distinct)]
        model_frames = [torch.from_numpy(frame.astype(np.float32) / 255)[None] for frame in written]
    outputs[method] = _repeated(model_frames, repeats)
    if hr_frames is not None:
        outputs["hr"] = [f.float() for f in hr_frames]
    guide = _numpy(outputs["bicubic"])
    scores = ClipScores(frames=len(lr_frames), flicker={name: flicker(_numpy(frames), guide, value_range=(0, 255))
                                                        for name, frames in outputs.items()},
                        seconds_per_frame=spent / max(len(lr_frames), 1))
    if hr_frames is not None:
        for name in ("bicubic", *methods):
            pairs = list(zip(outputs[name], hr_frames))
            scores.psnr[name] = float(np.mean([float(psnr(s[None], t[None], border)) for s, t in pairs]))
            scores.psnr_aligned[name] = float(np.mean([float(aligned_psnr(s[None], t[None], border)) for s, t in pairs]))
    return scores


def _repeated(frames: Sequence[Tensor], repeats: Sequence[int]) -> list[Tensor]:
    return [frame for frame, n in zip(frames, repeats) for _ in range(n)]


def clip_frames(clip) -> list[Tensor]:
    """A :class:`~realiisr.video.io.Clip`'s grey frames as ``[1, h, w]`` float32 in [0, 1] (8- or 16-bit)."""
    out = []
    for frame in clip.frames():
        if frame.ndim == 3:
            raise ValueError(f"{clip.source}: a colour clip; score its grey frames (decode the palette first)")
        scale = 65535.0 if frame.dtype == np.uint16 else 255.0
        out.append(torch.from_numpy(frame.astype(np.float32) / scale)[None])
    return out


def frame_upscaler(model, **settings) -> Callable[..., Tensor]:
    """``[1, h, w]`` in [0, 1] → the model's output through the path ``realiisr upscale`` takes for an 8-bit
    frame (:func:`realiisr.inference.images.upscale_image`), back in [0, 1]; ``window``/``centre``: the frame's
    window in the clip, as ``realiisr upscale --temporal`` gives it."""
    from realiisr.inference.images import upscale_image

    def upscale(lr: Tensor, window: Sequence[Tensor] = (), centre: int = 0) -> Tensor:
        pixels = _eight_bit(lr)
        frames = [_eight_bit(f) for f in window]
        out = upscale_image(model, pixels, window=frames, centre=centre, **settings)
        return torch.from_numpy(out.astype(np.float32) / 255)[None]

    return upscale
