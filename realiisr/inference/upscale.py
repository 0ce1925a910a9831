"""Upscaling whole thermal frames with a model whose native output is a fixed square.

The LR frame is cut into overlapping tiles of the model's LR size (native output / scale); each tile is
resized ×scale with Pillow bicubic (the model's input convention), super-resolved, and blended back with a
separable linear-ramp window so tile borders leave no seam. Frames smaller than a tile are reflect-padded
and cropped back. Grey in, grey out: the model's three identical channels are averaged. ``dtype`` runs the
model under autocast (``bfloat16`` takes 0.6x the time of float32 for the shipped model on a CPU with
AVX512-BF16; the blending stays float64); ``auto`` (the default) picks bfloat16 where the device computes it
natively (:func:`preferred_dtype`), float32 elsewhere. On glibc, :func:`realiisr.inference.keep_freed_memory` (which the
``realiisr`` command applies) saves the page faults of the large per-batch activations: 5-10 % a frame here.
"""
from __future__ import annotations

import contextlib
import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from realiisr.data.io import pil_bicubic
from realiisr.inference.color_fix import apply_color_fix
from realiisr.ops import cpu_vector_isa

if TYPE_CHECKING:  # the model imports this package lazily; no cycle at import time
    from realiisr.model import RealIISR

__all__ = ["Upscaler", "upscale_frame", "tile_starts", "preferred_dtype", "TTA_CHOICES"]

#: Views :attr:`Upscaler.tta` may average.
TTA_CHOICES = (1, 2, 4, 8)

_LOG = logging.getLogger(__name__)


def preferred_dtype(device: torch.device) -> str:
    """What ``dtype="auto"`` runs on ``device``: ``bfloat16`` on a CUDA device with bf16 arithmetic and on a
    CPU whose bf16 instructions (AVX512-BF16 or AMX) ATen may use — there it took 0.6x the time of float32
    for the same aligned score on the sample pairs (within 0.01 dB) — else ``float32`` (bf16 is
    emulated and slower on AVX2 CPUs). ``ATEN_CPU_CAPABILITY`` and ``REALIISR_MAX_CPU_ISA`` caps count."""
    if device.type == "cuda":
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float32"
    if device.type != "cpu" or cpu_vector_isa() != "avx512":
        return "float32"
    native = getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)() or \
        getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)()
    return "bfloat16" if native else "float32"


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets covering ``[0, length)`` with tiles of ``tile`` overlapping by at least ``overlap``."""
    if length <= tile:
        return [0]
    stride = max(1, tile - overlap)
    count = math.ceil((length - tile) / stride) + 1
    step = (length - tile) / (count - 1)
    return [round(i * step) for i in range(count)]


def _ramp(length: int, overlap: int, dead: int = 0) -> Tensor:
    """1 in the middle, rising linearly over ``overlap`` samples at each end; the outer ``dead`` samples of
    those (where the decoder's zero-padded convolutions bend the output) get a weight of 1e-6, so they count
    only where no other tile covers the pixel. Never exactly 0."""
    w = torch.ones(length, dtype=torch.float64)
    if overlap > 0:
        dead = min(dead, overlap - 1)
        edge = torch.full((overlap,), 1e-6, dtype=torch.float64)
        edge[dead:] = (torch.arange(overlap - dead, dtype=torch.float64) + 0.5) / (overlap - dead)
        w[:overlap] = edge
        w[-overlap:] = torch.minimum(w[-overlap:], edge.flip(0))
    return w


@dataclass
class Upscaler:
    """Settings of a tiled upscale; defaults are the reference's test settings (greedy decoding)."""

    model: "RealIISR"
    overlap: int = 8  # in LR pixels
    # LR pixels reflected around the frame before tiling, so that the frame's own border lies inside a tile
    # (a tile's outer ~5 LR pixels come back up to 3.5 grey levels off on a flat frame: zero padding in the
    # decoder); the same number of pixels at each tile edge gets almost no blending weight (at most overlap/2)
    border: int = 4
    batch_size: int = 32  # tiles per pass; halved on CUDA out-of-memory (8 → 32: 2.8 → 2.25 s per CPU frame)
    cfg: Optional[float] = None  # None: the recipe's option (1, the reference's; 0 for the shipped recipe)
    top_k: int = 1
    top_p: float = 0.75
    seed: Optional[int] = None
    eight_bit: bool = True
    color_fix: Optional[str] = None  # None: the recipe's option (the reference's test script: AdaIN)
    dtype: str = "auto"  # "float32", "bfloat16", "float16" (autocast), or the device's native choice
    # replay the generator's per-scale passes from CUDA graphs (two captures per frame size: the full tile
    # batch and the remainder); off CUDA the same static path runs eagerly, to no gain
    cuda_graphs: bool = False
    # output scale: the model's (None), half of it (the model's output area-averaged ×2: a ×2 frame whose every
    # pixel is the mean of four restored ones) or twice it (the model's output, bicubic ×2 on top: the detail the
    # LR blur hides is the model's to restore, the last octave bicubic's; a second ×4 pass costs 16× and has only
    # the restored frame to read)
    scale: Optional[int] = None
    # test-time self-ensemble: the mean of the outputs for the first ``tta`` of the eight flips and quarter turns
    # the model was trained under (1: the frame alone; 2: and its mirror; 4: the four flips; 8: and the
    # transposes), each undone before averaging; costs ``tta``× the time (docs/benchmarks.md)
    tta: int = 1

    _AUTOCAST = {"float32": None, "bfloat16": torch.bfloat16, "float16": torch.float16}

    @property
    def lr_tile(self) -> int:
        return self.model.tokenizer.image_size // self.model.scale

    def __call__(self, frame: Tensor, guide: Optional[Tensor] = None) -> Tensor:
        """``[1, h, w]`` LR frame in [0, 1] → ``[1, h·s, w·s]`` in [0, 1] (float64 accumulation).

        ``guide``: ``[1, h·s, w·s]`` in [0, 1], the model's input in place of the frame's bicubic upscale (a
        clip's window fused onto this frame, :mod:`realiisr.inference.window`); ``None``: Pillow's bicubic."""
        if frame.dim() != 3 or frame.shape[0] != 1:
            raise ValueError(f"upscale: expected a [1, h, w] grey frame, got {tuple(frame.shape)}")
        if not torch.isfinite(frame).all():
            raise ValueError("upscale: the frame contains NaN or Inf")
        if self.tta not in TTA_CHOICES:
            raise ValueError(f"upscale: tta must be one of {TTA_CHOICES} (views of the frame), got {self.tta!r}")
        s, output_scale = self.model.scale, self.output_scale
        if guide is not None and guide.shape != (1, frame.shape[1] * s, frame.shape[2] * s):
            raise ValueError(f"upscale: the guide is {tuple(guide.shape)}, expected "
                             f"{(1, frame.shape[1] * s, frame.shape[2] * s)}")
        total = None
        for view in range(self.tta):
            out = self._upscale_view(_view(frame, view), None if guide is None else _view(guide, view))
            out = _undo_view(out, view).clamp(0, 1)
            total = out if total is None else total.add_(out)
        return _rescale((total / self.tta).float()[None], s, output_scale)

    def _upscale_view(self, frame: Tensor, guide: Optional[Tensor]) -> Tensor:
        """One view of the frame through the tiled model: ``[h·s, w·s]`` float64, unclamped."""
        tile, s = self.lr_tile, self.model.scale
        _, h, w = frame.shape
        overlap = min(self.overlap, tile // 2)
        dead = min(max(0, self.border), overlap // 2)
        (top, bottom), (left, right) = (_margins(n, tile, overlap, self.border) for n in (h, w))
        if guide is not None:
            guide = _pad(guide.float(), top * s, bottom * s, left * s, right * s)
        frame = _pad(frame, top, bottom, left, right)
        _, hp, wp = frame.shape
        boxes = [(y, x) for y in tile_starts(hp, tile, overlap) for x in tile_starts(wp, tile, overlap)]
        out = torch.zeros(hp * s, wp * s, dtype=torch.float64)
        weight = torch.zeros_like(out)
        ramp = _ramp(tile * s, overlap * s, dead * s)
        window = torch.outer(ramp, ramp)
        device = next(self.model.parameters()).device
        generator = torch.Generator(device=device).manual_seed(self.seed) if self.seed is not None else None
        dtype = preferred_dtype(device) if self.dtype == "auto" else self.dtype
        if dtype not in self._AUTOCAST:
            raise ValueError(f"upscale: dtype must be 'auto' or one of {sorted(self._AUTOCAST)}, got {self.dtype!r}")
        amp = self._AUTOCAST[dtype]
        precision = torch.autocast(device.type, dtype=amp) if amp is not None else contextlib.nullcontext()
        batch, first = self.batch_size, 0
        color_fix = self.color_fix or self.model.options.get("color_fix", "adain")
        while first < len(boxes):
            chunk = boxes[first : first + batch]
            if guide is None:
                tiles = [pil_bicubic(frame[:, y : y + tile, x : x + tile], tile * s, tile * s, self.eight_bit)
                         for y, x in chunk]
            else:
                tiles = [guide[:, y * s : (y + tile) * s, x * s : (x + tile) * s] for y, x in chunk]
            lr = torch.stack(tiles).expand(-1, 3, -1, -1).mul(2).sub(1).to(device)
            try:
                with torch.no_grad(), precision:
                    sr = self.model.sample(lr, cfg=self.cfg, top_k=self.top_k, top_p=self.top_p, generator=generator,
                                           cuda_graphs=self.cuda_graphs)
                    sr = apply_color_fix(color_fix, sr.float(), (lr.float() + 1) / 2)
            except torch.OutOfMemoryError:
                if batch == 1:
                    raise
                batch = max(1, batch // 2)  # retry these tiles in smaller batches
                _LOG.warning("out of memory with %d tiles per batch; retrying with %d", len(chunk), batch)
                if device.type == "cuda":
                    torch.cuda.empty_cache()
                continue
            sr = sr.mean(dim=1).double().cpu()
            for (y, x), patch in zip(chunk, sr):
                out[y * s : (y + tile) * s, x * s : (x + tile) * s] += patch * window
                weight[y * s : (y + tile) * s, x * s : (x + tile) * s] += window
            first += len(chunk)
        return (out / weight)[top * s : (top + h) * s, left * s : (left + w) * s]

    @property
    def output_scale(self) -> int:
        s = self.model.scale
        if self.scale is None or self.scale == s:
            return s
        if self.scale not in (s // 2, 2 * s) or s % 2:
            raise ValueError(f"upscale: scale {self.scale}: this ×{s} model gives ×{s // 2}, ×{s} or ×{2 * s}")
        return self.scale


def _view(frame: Tensor, view: int) -> Tensor:
    """View ``view`` (0-7) of ``[..., h, w]``: identity, the three flips, the transpose, the two quarter turns,
    the anti-transpose — the dihedral group the training crops are drawn from (:mod:`realiisr.data.datasets`)."""
    if view < 4:
        dims = ((), (-1,), (-2,), (-2, -1))[view]
        return frame.flip(dims) if dims else frame
    if view == 4:
        return frame.transpose(-2, -1)
    if view in (5, 6):
        return torch.rot90(frame, 1 if view == 5 else 3, dims=(-2, -1))
    return frame.transpose(-2, -1).flip((-2, -1))


def _undo_view(frame: Tensor, view: int) -> Tensor:
    """The inverse of :func:`_view` (every view but the two quarter turns is its own inverse)."""
    return _view(frame, {5: 6, 6: 5}.get(view, view))


def _rescale(frame: Tensor, model_scale: int, scale: int) -> Tensor:
    """``[1, H, W]`` at the model's scale → at ``scale`` (see :attr:`Upscaler.scale`)."""
    if scale == model_scale:
        return frame
    if scale < model_scale:
        return F.avg_pool2d(frame[None], model_scale // scale)[0]
    size = (frame.shape[-2] * scale // model_scale, frame.shape[-1] * scale // model_scale)
    return F.interpolate(frame[None], size=size, mode="bicubic", align_corners=False)[0].clamp(0, 1)


def _margins(length: int, tile: int, overlap: int, border: int) -> tuple[int, int]:
    """LR pixels to reflect before and after a side of ``length``: at least ``border``, and then as many as
    the same number of tiles covers anyway (more margin at no cost), at least up to one tile."""
    padded = max(tile, length + 2 * border)
    count = len(tile_starts(padded, tile, overlap))
    covered = max(padded, tile + (count - 1) * max(1, tile - overlap))
    extra = covered - length
    return extra // 2, extra - extra // 2


def _pad(frame: Tensor, top: int, bottom: int, left: int, right: int) -> Tensor:
    """Reflect padding (replicate where the frame is too small to reflect)."""
    if not (top or bottom or left or right):
        return frame
    _, h, w = frame.shape
    mode = "reflect" if max(top, bottom) < h and max(left, right) < w else "replicate"
    return torch.nn.functional.pad(frame[None], (left, right, top, bottom), mode=mode)[0]


def upscale_frame(model: "RealIISR", frame: Tensor, **settings) -> Tensor:
    """Functional form of :class:`Upscaler`."""
    return Upscaler(model, **settings)(frame)
