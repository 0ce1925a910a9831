"""Thermal order consistency (TOC): neighbouring patches must keep the ground truth's brightness order."""
from __future__ import annotations

from torch import Tensor

from realiisr.core.interfaces import PhysicsLoss
from realiisr.core.registries import PHYSICS_LOSSES
from realiisr.ops import toc_loss

__all__ = ["ThermalOrderConsistencyLoss"]


@PHYSICS_LOSSES.register(name="toc", aliases=("thermal_order",), paper="Real-IISR eq. TOC")
class ThermalOrderConsistencyLoss(PhysicsLoss):
    """Penalises neighbouring patch pairs whose brightness order differs from the ground truth's.

    Args:
        patch_size: side of the averaging patches (8 in the reference).
        threshold: pairs whose ground-truth difference is below this are ignored (0.1 on a [0, 1] scale).
        reduction: ``mean`` (per-image sum over patches, then batch mean, as the reference), ``sum`` or ``none``.

    ``forward(sr, hr)`` takes the prediction first; the target is never differentiated.
    """

    def __init__(self, patch_size: int = 8, threshold: float = 0.1, reduction: str = "mean") -> None:
        super().__init__()
        self.patch_size = int(patch_size)
        self.threshold = float(threshold)
        self.reduction = reduction

    def forward(self, sr: Tensor, hr: Tensor) -> Tensor:
        return toc_loss(sr, hr, self.patch_size, self.threshold, self.reduction)

    def extra_repr(self) -> str:
        return f"patch_size={self.patch_size}, threshold={self.threshold}, reduction={self.reduction!r}"
