"""Pixel losses."""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from realiisr.core.interfaces import PhysicsLoss
from realiisr.core.registries import PHYSICS_LOSSES

__all__ = ["MSELoss"]


@PHYSICS_LOSSES.register(name="mse")
class MSELoss(PhysicsLoss):
    """Mean squared error over all elements (the reference applies it to [0, 1] images)."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = reduction

    def forward(self, sr: Tensor, hr: Tensor) -> Tensor:
        return F.mse_loss(sr, hr.detach(), reduction=self.reduction)
