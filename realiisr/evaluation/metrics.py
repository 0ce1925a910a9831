"""Metrics computed in float64 on the grey channel of [0, 1] images.

PSNR here is the textbook formula, used inside training loops where importing pyiqa (and its model zoo) for
one line of arithmetic would dominate start-up; ``realiisr evaluate`` reports pyiqa's numbers.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from realiisr.ops.reference import neighbour_differences

__all__ = ["grey", "psnr", "apply_best_gain_offset", "aligned_psnr", "thermal_order_accuracy"]


def grey(img: Tensor) -> Tensor:
    """``[B, C, H, W]`` → ``[B, 1, H, W]`` float64 channel mean (the images are grayscale stored as RGB)."""
    return img.double().mean(dim=1, keepdim=True)


def psnr(sr: Tensor, hr: Tensor, border: int = 0) -> Tensor:
    """Per-image PSNR (dB) for images in [0, 1]."""
    a, b = grey(sr.clamp(0, 1)), grey(hr.clamp(0, 1))
    if border:
        a, b = a[..., border:-border, border:-border], b[..., border:-border, border:-border]
    mse = (a - b).square().flatten(1).mean(dim=1).clamp_min(1e-12)
    return 10 * torch.log10(1 / mse)


def apply_best_gain_offset(sr: Tensor, hr: Tensor) -> Tensor:
    """``sr``'s grey channel mapped onto ``hr``'s by each image's least-squares gain and offset (float64).

    Real pairs differ by the camera's AGC between the two captures; the aligned score takes that out for every
    method alike, so only structure is scored."""
    a, b = grey(sr), grey(hr)
    a_mean, b_mean = a.mean(dim=(1, 2, 3), keepdim=True), b.mean(dim=(1, 2, 3), keepdim=True)
    var = (a - a_mean).square().sum(dim=(1, 2, 3), keepdim=True)
    gain = torch.where(var > 0, ((a - a_mean) * (b - b_mean)).sum(dim=(1, 2, 3), keepdim=True) / var.clamp_min(1e-30),
                       torch.ones_like(var))
    return gain * (a - a_mean) + b_mean


def aligned_psnr(sr: Tensor, hr: Tensor, border: int = 0) -> Tensor:
    """Per-image PSNR after :func:`apply_best_gain_offset` (the HR must already be registered onto the LR grid)."""
    return psnr(apply_best_gain_offset(sr, hr).clamp(0, 1), hr, border)


def thermal_order_accuracy(sr: Tensor, hr: Tensor, patch_size: int = 8, threshold: float = 0.1) -> Tensor:
    """Per image: the fraction of neighbouring patch pairs, among those whose HR difference is at least
    ``threshold``, whose brightness order the SR image keeps (the quantity the TOC loss penalises)."""
    s = F.avg_pool2d(grey(sr), patch_size)
    t = F.avg_pool2d(grey(hr), patch_size)
    agree = torch.zeros(s.shape[0], dtype=torch.float64, device=s.device)
    total = torch.zeros(s.shape[0], dtype=torch.float64, device=s.device)
    for _, ds, dt in neighbour_differences(s, t):
        counted = dt.abs() >= threshold
        agree += ((ds * dt > 0) & counted).flatten(1).sum(1)
        total += counted.flatten(1).sum(1)
    return torch.where(total > 0, agree / total.clamp_min(1), torch.ones_like(total))
