"""Fitting the LR formation of real LR/HR pairs: what blur and down-sampling turn the HR into its real LR.

The HR is first registered onto the LR's grid (:func:`~realiisr.data.registration.estimate_similarity`:
magnification and shift, since a real pair is two captures), then each candidate degradation of it is scored
against the real LR after the least-squares gain/offset (the camera's AGC changed between the captures). The
residual is reported in 8-bit grey levels (RMS over the inner frame). This is the evidence behind the
``flir_iisr`` degradation preset (:data:`realiisr.data.degradations.PRESETS`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from realiisr.data.degradations import DegradationPipeline, _blur, _disk_kernel, _gaussian_kernel, preset_pipeline
from realiisr.data.io import pil_bicubic
from realiisr.data.registration import Similarity, apply_similarity, estimate_similarity, fit_gain_offset

__all__ = ["LRFormation", "register_to_lr", "residual_grey_levels", "fit_lr_formation", "preset_residuals",
           "CameraStatistics", "camera_statistics", "camera_steps", "laplacian_ratio", "lr_side_fit",
           "synthetic_laplacian_ratio"]

_WIDTHS = tuple(float(w) for w in np.arange(0.5, 10.01, 0.25))


@dataclass(frozen=True)
class LRFormation:
    """The best-fitting PSF (``gaussian`` sigma or ``disk`` radius, HR px) before area down-sampling, the AGC
    gain/offset of the real LR over the degraded HR (offset in grey levels), and the residuals in grey levels
    of that fit and of plain bicubic down-sampling (with its own gain/offset)."""

    similarity: Similarity
    psf: str
    width: float
    gain: float
    offset: float
    residual: float
    bicubic_residual: float


def register_to_lr(hr: Tensor, lr: Tensor, scale: int = 4) -> tuple[Tensor, Similarity, int]:
    """(HR moved onto the LR's grid, the similarity, the LR-pixel border to ignore)."""
    if tuple(hr.shape[-2:]) != (lr.shape[-2] * scale, lr.shape[-1] * scale):
        raise ValueError(f"calibration: HR {tuple(hr.shape[-2:])} is not {scale}x the LR {tuple(lr.shape[-2:])}")
    upsampled = pil_bicubic(lr, *hr.shape[-2:], eight_bit=True)
    sim = estimate_similarity(hr, upsampled)
    border = -(-sim.border(tuple(hr.shape[-2:])) // scale) + 1
    return apply_similarity(hr, sim), sim, border


def residual_grey_levels(degraded: Tensor, lr: Tensor, border: int) -> tuple[float, float, float]:
    """(RMS residual in grey levels, gain, offset in grey levels) of ``degraded`` mapped onto ``lr``."""
    inner = (..., slice(border, lr.shape[-2] - border), slice(border, lr.shape[-1] - border))
    a, b = degraded[inner].double(), lr[inner].double()
    gain, offset = fit_gain_offset(a, b)
    return float((gain * a + offset - b).square().mean().sqrt()) * 255, gain, offset * 255


def fit_lr_formation(hr: Tensor, lr: Tensor, scale: int = 4, widths: Sequence[float] = _WIDTHS) -> LRFormation:
    """Grid search over Gaussian and disk PSFs of the registered HR, then ``scale``× area averaging."""
    registered, sim, border = register_to_lr(hr, lr, scale)
    bicubic, _, _ = residual_grey_levels(pil_bicubic(registered, *lr.shape[-2:]), lr, border)
    best: Optional[tuple] = None
    for psf, kernel in (("gaussian", _gaussian_kernel), ("disk", _disk_kernel)):
        for width in widths:
            degraded = F.avg_pool2d(_blur(registered, kernel(width))[None], scale)[0]
            residual, gain, offset = residual_grey_levels(degraded, lr, border)
            if best is None or residual < best[0]:
                best = (residual, psf, width, gain, offset)
    residual, psf, width, gain, offset = best
    return LRFormation(sim, psf, width, gain, offset, residual, bicubic)


def preset_residuals(hr: Tensor, lr: Tensor, preset: str = "flir_iisr", draws: int = 16, scale: int = 4,
                     seed: int = 0, pipeline: Optional[DegradationPipeline] = None) -> list[float]:
    """Residuals (grey levels) of ``draws`` random degradations of the registered HR by a preset."""
    registered, _, border = register_to_lr(hr, lr, scale)
    pipeline = pipeline or preset_pipeline(preset, scale)
    generator = torch.Generator().manual_seed(seed)
    return [residual_grey_levels(pipeline(registered, generator), lr, border)[0] for _ in range(draws)]


def _laplacian_energy(frame: Tensor, border: int) -> float:
    kernel = torch.tensor([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=torch.float64)[None, None]
    lap = F.conv2d(frame.double().reshape(-1, 1, *frame.shape[-2:]), kernel)
    b = max(0, border - 1)
    return float(lap[..., b : lap.shape[-2] - b, b : lap.shape[-1] - b].square().mean())


@dataclass(frozen=True)
class CameraStatistics:
    """What separates a real LR from its best blur + area fit (grey levels): the RMS ``residual``; the
    Laplacian-energy ``lap_ratio`` of real LR over the fit; ``noise``, the white-noise std that explains the
    extra Laplacian energy (white noise of std s carries 20 s² of it); the low-frequency part of the residual
    (``low``, a Gaussian of 3 LR px); and the row / column stripes of its high-pass part."""

    residual: float
    lap_ratio: float
    noise: float
    low: float
    rows: float
    columns: float


def _fitted_degradation(hr: Tensor, lr: Tensor, scale: int) -> tuple[Tensor, int, LRFormation]:
    fit = fit_lr_formation(hr, lr, scale)
    registered, _, border = register_to_lr(hr, lr, scale)
    kernel = _gaussian_kernel(fit.width) if fit.psf == "gaussian" else _disk_kernel(fit.width)
    return F.avg_pool2d(_blur(registered, kernel)[None], scale)[0], border, fit


def laplacian_ratio(lr: Tensor, degraded: Tensor, border: int) -> float:
    """Laplacian energy of ``lr`` over that of ``degraded`` mapped onto it by the least-squares gain."""
    inner = (..., slice(border, lr.shape[-2] - border), slice(border, lr.shape[-1] - border))
    gain, _ = fit_gain_offset(degraded[inner].double(), lr[inner].double())
    return _laplacian_energy(lr, border) / max(_laplacian_energy(degraded * gain, border), 1e-12)


def camera_statistics(hr: Tensor, lr: Tensor, scale: int = 4) -> CameraStatistics:
    """The camera-processing statistics of one real pair (see :class:`CameraStatistics`)."""
    degraded, border, fit = _fitted_degradation(hr, lr, scale)
    inner = (..., slice(border, lr.shape[-2] - border), slice(border, lr.shape[-1] - border))
    gain, offset = fit_gain_offset(degraded[inner].double(), lr[inner].double())
    residual = lr.double() - (gain * degraded.double() + offset)
    low = _blur(residual, _gaussian_kernel(3.0))
    high = (residual - low)[inner]
    excess = _laplacian_energy(lr, border) - _laplacian_energy(degraded * gain, border)
    return CameraStatistics(
        residual=fit.residual, lap_ratio=laplacian_ratio(lr, degraded, border),
        noise=math.sqrt(max(excess, 0.0) / 20) * 255, low=float(low[inner].square().mean().sqrt()) * 255,
        rows=float(high.mean(dim=-1).std()) * 255, columns=float(high.mean(dim=-2).std()) * 255)


def camera_steps(stats: Sequence[CameraStatistics]) -> list[dict]:
    """Camera-processing degradation steps (LR grid, before quantisation) whose ranges span ``stats``: what
    ``flir_iisr_camera`` was set from, and what a leave-one-pair-out check builds from the other pairs."""
    def span(values: Sequence[float]) -> list[float]:
        return [min(values) / 255, max(values) / 255]

    return [
        {"type": "local_agc", "rms": span([s.low for s in stats])},
        {"type": "sensor_noise", "shot": [0.0, 0.0], "read": span([s.noise for s in stats])},
        {"type": "fixed_pattern_noise", "column_std": [0.0, max(s.columns for s in stats) / 255],
         "row_std": [0.0, max(s.rows for s in stats) / 255]},
    ]


def lr_side_fit(hr: Tensor, lr: Tensor, steps: Sequence[dict], draws: int = 8, scale: int = 4,
                seed: int = 0) -> tuple[float, float]:
    """(median residual in grey levels, median Laplacian ratio) of the real LR against its fitted blur + area
    degradation followed by the LR-side ``steps`` and 8-bit storage: how well those steps make synthetic LR look
    like this camera's. Random steps (noise) can only raise the residual; the ratio is what they should bring to
    1. Steps built without this pair (leave one pair out) make it a test, not a fit."""
    degraded, border, _ = _fitted_degradation(hr, lr, scale)
    pipeline = DegradationPipeline([*steps, {"type": "quantize", "bits": 8}])
    generator = torch.Generator().manual_seed(seed)
    residuals, ratios = [], []
    for _ in range(draws):
        synthetic = pipeline(degraded, generator)
        residuals.append(residual_grey_levels(synthetic, lr, border)[0])
        ratios.append(laplacian_ratio(lr, synthetic, border))
    return float(np.median(residuals)), float(np.median(ratios))


def synthetic_laplacian_ratio(hr: Tensor, lr: Tensor, steps: Sequence[dict], draws: int = 8, scale: int = 4,
                              seed: int = 0) -> float:
    """Median Laplacian ratio of the real LR over its fitted blur + area degradation followed by ``steps``
    (and 8-bit storage): 1.0 when the steps add the high-frequency energy the camera adds."""
    return lr_side_fit(hr, lr, steps, draws, scale, seed)[1]
