"""Real camera noise for synthetic LR: noise patches cut from flat regions of real LR frames and injected.

The RealSR recipe (Ji et al., "Real-World Super-Resolution via Kernel Estimation and Noise Injection", NTIRE 2020)
makes training LR look like camera LR by adding noise *taken from* camera LR instead of a parametric model. A
thermal camera's LR carries more than white noise: row/column fixed-pattern stripes, the detail enhancement's
grain and its 8-bit rounding, all of which a Gaussian draw lacks (``docs/training.md``: real LR has 1.2–1.8x the
Laplacian energy of its best blur fit). Here a patch of a real LR frame counts as noise where the frame is flat
(its smoothed gradient among the lowest of the frame); the patch's high-pass part (the frame minus its Gaussian
of ``_SHADING_SIGMA`` LR px, which removes shading and local AGC) is kept. :class:`RealNoise` tiles random
patches over the synthetic LR, flipped at random (flips keep the stripes' orientation; rotations would not).

The bank comes from frames given by path at training time; nothing is shipped or downloaded.
"""
from __future__ import annotations

import glob
from pathlib import Path
from typing import Sequence, Union

import torch
from torch import Tensor

from realiisr.data.degradations import DEGRADATIONS, Degradation, _blur, _gaussian_kernel, _uniform
from realiisr.data.io import IMAGE_SUFFIXES, read_frame

__all__ = ["flat_noise_patches", "noise_bank", "RealNoise"]

_SHADING_SIGMA = 2.0


def flat_noise_patches(frame: Tensor, size: int = 16, fraction: float = 0.15) -> Tensor:
    """``[N, size, size]`` zero-mean high-pass patches of the flattest ``fraction`` of ``frame``'s
    non-overlapping ``size``² blocks (``frame``: ``[1, H, W]`` in [0, 1]); flatness is the mean gradient
    magnitude of the frame smoothed by the shading Gaussian, so the noise itself does not decide it."""
    if frame.dim() != 3 or frame.shape[0] != 1:
        raise ValueError(f"flat_noise_patches: expected a [1, H, W] grey frame, got {tuple(frame.shape)}")
    if not 0 < fraction <= 1:
        raise ValueError(f"flat_noise_patches: fraction must be in (0, 1], got {fraction}")
    frame = frame.double()
    smooth = _blur(frame, _gaussian_kernel(_SHADING_SIGMA))
    high = frame - smooth
    gy, gx = torch.gradient(smooth[0])
    gradient = torch.sqrt(gx**2 + gy**2)
    h, w = (frame.shape[-2] // size) * size, (frame.shape[-1] // size) * size
    if h == 0 or w == 0:
        raise ValueError(f"flat_noise_patches: a {tuple(frame.shape[-2:])} frame holds no {size}x{size} block")
    # border blocks see the blur's replicated edge; leave them out where the frame has inner blocks
    blocks = high[0, :h, :w].reshape(h // size, size, w // size, size).permute(0, 2, 1, 3)
    flatness = gradient[:h, :w].reshape(h // size, size, w // size, size).mean(dim=(1, 3))
    if blocks.shape[0] > 2 and blocks.shape[1] > 2:
        blocks, flatness = blocks[1:-1, 1:-1], flatness[1:-1, 1:-1]
    blocks = blocks.reshape(-1, size, size)
    order = torch.argsort(flatness.reshape(-1), stable=True)  # ties (flat synthetic frames) in block order
    keep = order[: max(1, round(fraction * len(order)))]
    patches = blocks[keep]
    return (patches - patches.mean(dim=(1, 2), keepdim=True)).float()


def _expand(frames: Union[str, Path, Sequence[Union[str, Path]]]) -> list[Path]:
    items = [frames] if isinstance(frames, (str, Path)) else list(frames)
    paths: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        elif path.is_file():
            found = [path]
        else:
            found = [Path(p) for p in sorted(glob.glob(str(item)))]
        if not found:
            raise ValueError(f"real_noise: {str(item)!r} names no LR frame (a file, a folder or a glob)")
        paths.extend(found)
    return paths


def noise_bank(frames: Union[str, Path, Sequence[Union[str, Path]]], size: int = 16,
               fraction: float = 0.15) -> Tensor:
    """The patches of every frame in ``frames`` (files, folders or globs of real LR frames), ``[N, size, size]``."""
    patches = []
    for path in _expand(frames):
        try:
            patches.append(flat_noise_patches(read_frame(path), size, fraction))
        except ValueError as exc:
            raise ValueError(f"real_noise: LR frame {str(path)!r}: {exc}") from None
    return torch.cat(patches)


@DEGRADATIONS.register(name="real_noise")
class RealNoise(Degradation):
    """Real LR noise patches (:func:`noise_bank` of ``frames``) tiled over the frame, times ``strength``.

    Use on the LR grid, after down-sampling and before quantisation, in place of ``sensor_noise`` and
    ``fixed_pattern_noise``: the patches carry both."""

    def __init__(self, frames: Union[str, Sequence[str]], size: int = 16, fraction: float = 0.15,
                 strength: Sequence[float] = (1.0, 1.0)) -> None:
        self.frames, self.strength = frames, tuple(strength)
        self.bank = noise_bank(frames, size, fraction)
        self.size = size

    def __call__(self, frame: Tensor, generator: torch.Generator) -> Tensor:
        c, h, w = frame.shape
        rows, cols = -(-h // self.size), -(-w // self.size)
        picks = torch.randint(len(self.bank), (rows * cols,), generator=generator)
        flips = torch.rand(rows * cols, 2, generator=generator) < 0.5
        tiles = self.bank[picks]
        tiles = torch.where(flips[:, 0, None, None], tiles.flip(-1), tiles)
        tiles = torch.where(flips[:, 1, None, None], tiles.flip(-2), tiles)
        field = tiles.reshape(rows, cols, self.size, self.size).permute(0, 2, 1, 3).reshape(rows * self.size, -1)
        strength = _uniform(generator, *self.strength)
        return frame + (strength * field[:h, :w]).to(frame.dtype)
