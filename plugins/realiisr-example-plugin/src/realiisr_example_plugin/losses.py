"""A gradient-direction loss: edges of the SR image should point where the ground truth's do."""
from __future__ import annotations

import torch

from realiisr.core.interfaces import PhysicsLoss

from realiisr_example_plugin._sobel import sobel_xy


class GradientDirectionLoss(PhysicsLoss):
    """Mean over pixels of ``w·(1 − cos∠(∇sr, ∇hr))`` with ``w = |∇hr| / mean|∇hr|`` (grey channel)."""

    def __init__(self, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        sx, sy = sobel_xy(sr.mean(dim=1, keepdim=True))
        hx, hy = sobel_xy(hr.detach().mean(dim=1, keepdim=True))
        s_norm = torch.sqrt(sx * sx + sy * sy + self.eps)
        h_norm = torch.sqrt(hx * hx + hy * hy + self.eps)
        cosine = (sx * hx + sy * hy) / (s_norm * h_norm)
        weight = h_norm / h_norm.mean(dim=(1, 2, 3), keepdim=True)
        return (weight * (1 - cosine)).mean()
