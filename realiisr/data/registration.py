"""Global sub-pixel registration of real LR/HR pairs.

The real pairs of FLIR-IISR are taken through two optical paths, and their HR frame is offset from the LR by
whole HR pixels: on the four sample pairs the best global shift of the bicubic-upsampled LR onto the HR is
-1.6, 8.3, -3.3 and 1.4 px horizontally (about 0.4-0.7 px vertically), which alone costs bicubic 0.3-1.5 dB
of PSNR. No model can predict such an offset from the LR, so

* unregistered training pairs teach a model to blur (the least-squares answer to an unknown shift), and
* unregistered evaluation mixes registration error into every method's score.

The shift is found by minimising the mean squared difference of the mean-free frames — the quantity PSNR
measures, blind to a radiometric offset such as 000822_0's — first over whole-pixel offsets, then with a
Nelder-Mead refinement (scipy) of a cubic-spline shift. Phase correlation (``skimage.registration``) was tried
first and failed on these pairs: the LR is far blurrier than the HR, and the phase-normalised spectrum then
locks onto zero shift.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

__all__ = ["estimate_shift", "apply_shift", "shift_border", "Similarity", "estimate_similarity", "apply_similarity",
           "fit_gain_offset"]

_LOG = logging.getLogger(__name__)


def _grey(frame: Tensor, what: str) -> np.ndarray:
    """The frame as a mean-free 2-D float64 array."""
    if frame.dim() == 3:
        frame = frame.double().mean(0)
    if frame.dim() != 2:
        raise ValueError(f"registration: {what} must be [H, W] or [C, H, W], got {tuple(frame.shape)}")
    array = frame.detach().cpu().double().numpy()
    if not np.isfinite(array).all():
        raise ValueError(f"registration: {what} contains NaN or Inf")
    return array - array.mean()


def apply_shift(frame: Tensor, shift: tuple[float, float]) -> Tensor:
    """``frame`` (``[H, W]`` or ``[C, H, W]``) moved by ``(dy, dx)`` pixels: cubic spline, edges repeated,
    clipped to the frame's own range (the spline's overshoot would otherwise leave e.g. [0, 1])."""
    from scipy import ndimage

    array = frame.detach().cpu().double().numpy()
    moved = ndimage.shift(array, (0,) * (array.ndim - 2) + tuple(shift), order=3, mode="nearest")
    moved = np.clip(moved, array.min(), array.max())
    return torch.from_numpy(moved).to(dtype=frame.dtype, device=frame.device)


def shift_border(shift: tuple[float, float], margin: int = 2) -> int:
    """Pixels to drop at each border after a shift (where the shifted frame holds repeated edges)."""
    return int(math.ceil(max(abs(shift[0]), abs(shift[1])))) + margin


def _mse(a: np.ndarray, b: np.ndarray, dy: int, dx: int, border: int) -> float:
    h, w = a.shape
    moved = a[border - dy : h - border - dy, border - dx : w - border - dx]
    return float(np.mean((moved - b[border : h - border, border : w - border]) ** 2))


def estimate_shift(moving: Tensor, fixed: Tensor, *, max_shift: int = 12, subpixel: bool = True) -> tuple[float, float]:
    """``(dy, dx)`` such that ``apply_shift(moving, (dy, dx))`` best matches ``fixed`` (least squares).

    Args:
        moving, fixed: frames of one size, ``[H, W]`` or ``[C, H, W]`` (channels are averaged).
        max_shift: the largest offset searched, in pixels, along each axis.
        subpixel: refine the whole-pixel optimum (to ~0.05 px).
    """
    a, b = _grey(moving, "moving"), _grey(fixed, "fixed")
    if a.shape != b.shape:
        raise ValueError(f"registration: moving {a.shape} and fixed {b.shape} differ in size")
    border = max_shift + 2
    if min(a.shape) <= 4 * border:
        raise ValueError(f"registration: a {a.shape} frame is too small for shifts up to {max_shift} px")
    scores = {(dy, dx): _mse(a, b, dy, dx, border)
              for dy in range(-max_shift, max_shift + 1) for dx in range(-max_shift, max_shift + 1)}
    best = min(scores, key=scores.get)
    if max(abs(best[0]), abs(best[1])) == max_shift:
        _LOG.warning("registration: the best shift %s lies on the search bound (max_shift=%d)", best, max_shift)
    if not subpixel:
        return float(best[0]), float(best[1])
    from scipy import ndimage, optimize

    inner = (slice(border, a.shape[0] - border), slice(border, a.shape[1] - border))

    def cost(shift: np.ndarray) -> float:
        moved = ndimage.shift(a, shift, order=3, mode="nearest")
        return float(np.mean((moved[inner] - b[inner]) ** 2))

    found = optimize.minimize(cost, np.array(best, dtype=np.float64), method="Nelder-Mead",
                              options={"xatol": 0.02, "fatol": 1e-9, "initial_simplex": np.array(best) + np.array(
                                  [[0.0, 0.0], [0.5, 0.0], [0.0, 0.5]])})
    dy, dx = (float(v) for v in found.x)
    if cost(found.x) > scores[best]:  # never worse than the whole-pixel answer
        return float(best[0]), float(best[1])
    return dy, dx


@dataclass(frozen=True)
class Similarity:
    """A magnification ``scale`` about the frame centre followed by a shift ``(dy, dx)`` in pixels."""

    scale: float = 1.0
    dy: float = 0.0
    dx: float = 0.0

    @property
    def shift(self) -> tuple[float, float]:
        return self.dy, self.dx

    def border(self, shape: tuple[int, int], margin: int = 2) -> int:
        """Pixels to drop at each border, where the moved frame holds repeated edges."""
        grow = abs(1 - 1 / self.scale) * max(shape) / 2
        return int(math.ceil(max(abs(self.dy), abs(self.dx)) + grow)) + margin


def _affine(shape: tuple[int, int], sim: Similarity) -> tuple[np.ndarray, np.ndarray]:
    """ndimage's (matrix, offset) for output[o] = input[c + (o - c - t) / s]."""
    centre = (np.array(shape, dtype=np.float64) - 1) / 2
    matrix = np.full(2, 1 / sim.scale)
    return matrix, centre - (centre + np.array(sim.shift)) / sim.scale


def apply_similarity(frame: Tensor, sim: Similarity) -> Tensor:
    """``frame`` (``[H, W]`` or ``[C, H, W]``) magnified and shifted by ``sim`` (cubic spline, edges repeated,
    clipped to the frame's own range)."""
    from scipy import ndimage

    array = frame.detach().cpu().double().numpy()
    planes = array.reshape(-1, *array.shape[-2:])
    matrix, offset = _affine(planes.shape[-2:], sim)
    moved = np.stack([ndimage.affine_transform(p, matrix, offset, order=3, mode="nearest") for p in planes])
    moved = np.clip(moved.reshape(array.shape), array.min(), array.max())
    return torch.from_numpy(moved).to(dtype=frame.dtype, device=frame.device)


def _unexplained(moved: np.ndarray, fixed: np.ndarray) -> float:
    """Mean squared residual of ``fixed`` after the best gain/offset of ``moved`` onto it."""
    a, b = moved - moved.mean(), fixed - fixed.mean()
    gain = float((a * b).sum() / max((a * a).sum(), 1e-12))
    return float(np.mean((b - gain * a) ** 2))


def estimate_similarity(moving: Tensor, fixed: Tensor, *, max_shift: int = 16,
                        scale_range: tuple[float, float] = (0.95, 1.05)) -> Similarity:
    """The magnification and shift that make ``apply_similarity(moving, ...)`` best match ``fixed`` up to a
    gain and offset (least squares on the inner frame).

    Real FLIR-IISR pairs are two captures: between them the camera refocused, which changes the field of view
    by about 0.98-1.024x, and the frame moved by 1-13 HR pixels; a shift alone leaves 0.1-1.7 dB of
    misalignment in a bicubic score. Starts at :func:`estimate_shift`'s answer, then refines the scale and
    shift together (Nelder-Mead on a prefiltered cubic spline).
    """
    from scipy import ndimage, optimize

    a, b = _grey(moving, "moving"), _grey(fixed, "fixed")
    if a.shape != b.shape:
        raise ValueError(f"registration: moving {a.shape} and fixed {b.shape} differ in size")
    dy, dx = estimate_shift(moving, fixed, max_shift=max_shift, subpixel=False)
    border = max_shift + int(math.ceil((scale_range[1] - 1) * max(a.shape) / 2)) + 2
    if min(a.shape) <= 3 * border:
        raise ValueError(f"registration: a {a.shape} frame is too small for shifts up to {max_shift} px")
    inner = (slice(border, a.shape[0] - border), slice(border, a.shape[1] - border))
    coefficients = ndimage.spline_filter(a, order=3, mode="nearest")

    def cost(params: np.ndarray) -> float:
        scale = float(np.clip(params[0], *scale_range))
        matrix, offset = _affine(a.shape, Similarity(scale, float(params[1]), float(params[2])))
        moved = ndimage.affine_transform(coefficients, matrix, offset, order=3, mode="nearest", prefilter=False)
        return _unexplained(moved[inner], b[inner]) * (1 + 10 * max(0.0, abs(params[0] - 1) - (scale_range[1] - 1)))

    start = np.array([1.0, dy, dx])
    simplex = np.stack([start, start + [0.01, 0, 0], start + [0, 0.7, 0], start + [0, 0, 0.7]])
    found = optimize.minimize(cost, start, method="Nelder-Mead",
                              options={"xatol": 1e-3, "fatol": 1e-10, "initial_simplex": simplex, "maxiter": 600})
    best = found.x if cost(found.x) <= cost(start) else start
    scale = float(np.clip(best[0], *scale_range))
    if scale in scale_range:
        _LOG.warning("registration: the magnification %.4f lies on the search bound %s", scale, scale_range)
    return Similarity(scale, float(best[1]), float(best[2]))


def fit_gain_offset(source: Tensor, target: Tensor) -> tuple[float, float]:
    """``(gain, offset)`` minimising ``|gain * source + offset - target|²`` (float64)."""
    a, b = source.detach().double().flatten(), target.detach().double().flatten()
    a_mean, b_mean = a.mean(), b.mean()
    var = (a - a_mean).square().sum()
    gain = float(((a - a_mean) * (b - b_mean)).sum() / var) if float(var) > 0 else 1.0
    return gain, float(b_mean - gain * a_mean)
