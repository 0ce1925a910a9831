"""The thermal-order-consistency loss op: fused kernel when available, eager reference otherwise."""
from __future__ import annotations

import torch
from torch import Tensor

from realiisr.ops._dispatch import choose_backend, grad_will_flow
from realiisr.ops.reference import reduce_toc_map, toc_loss_map_reference

__all__ = ["toc_loss"]

_REDUCTIONS = ("none", "sum", "mean")


def _check(sr: Tensor, hr: Tensor, patch_size: int, reduction: str) -> None:
    if not isinstance(sr, Tensor) or not isinstance(hr, Tensor):
        raise TypeError(f"toc_loss: sr and hr must be tensors, got {type(sr).__name__} and {type(hr).__name__}")
    if sr.dim() != 4 or sr.shape != hr.shape:
        raise ValueError(
            f"toc_loss: sr and hr must both be [B, C, H, W] of one shape, got {tuple(sr.shape)} and {tuple(hr.shape)}"
        )
    if not sr.is_floating_point() or sr.dtype != hr.dtype:
        raise TypeError(f"toc_loss: sr and hr must share one floating dtype, got {sr.dtype} and {hr.dtype}")
    if sr.device != hr.device:
        raise ValueError(f"toc_loss: sr is on {sr.device} but hr is on {hr.device}")
    if not isinstance(patch_size, int) or patch_size < 1:
        raise ValueError(f"toc_loss: patch_size must be a positive int, got {patch_size!r}")
    if sr.shape[0] == 0 or sr.shape[1] == 0 or sr.shape[2] < patch_size or sr.shape[3] < patch_size:
        raise ValueError(
            f"toc_loss: input {tuple(sr.shape)} has no complete {patch_size}x{patch_size} patch"
        )
    if reduction not in _REDUCTIONS:
        raise ValueError(f"toc_loss: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def toc_loss(
    sr: Tensor, hr: Tensor, patch_size: int = 8, threshold: float = 0.1, reduction: str = "mean"
) -> Tensor:
    """Thermal-order-consistency loss between a prediction and its target.

    Args:
        sr: prediction ``[B, C, H, W]`` (the reference uses [0, 1] images).
        hr: target of the same shape; always treated as a constant (detached).
        patch_size: side of the averaging patches; trailing rows/columns that do not fill a patch are ignored.
        threshold: neighbour pairs whose target difference is below this are not compared.
        reduction: ``"mean"`` (per-image sum over patches, then batch mean — the reference's convention),
            ``"sum"`` or ``"none"`` (the per-patch map ``[B, 1, H // p, W // p]``).
    """
    _check(sr, hr, patch_size, reduction)
    backend, _ = choose_backend("toc_loss", sr.device, with_grad=grad_will_flow(sr))
    if backend == "fused":
        loss_map = torch.ops.realiisr.toc_loss_forward(sr, hr.detach(), patch_size, float(threshold))[0]
    else:
        loss_map = toc_loss_map_reference(sr, hr, patch_size, threshold)
    return reduce_toc_map(loss_map, reduction)
