"""Edge-only guidance: the "w/o thermal map" ablation. LR tokens plus edge tokens injected by cross-attention.

Built from realiisr's public building blocks, so it keeps the guidance contract of the builtin ``tsg``:
LR ``[B, 3, H, W]`` in [-1, 1] → context ``[B, 2·(H/16)², width]``.
"""
from __future__ import annotations

from typing import Sequence

import torch

from realiisr.core.interfaces import Guidance
from realiisr.guidance.encoders import ConvStem
from realiisr.guidance.tsg import CrossAttention, sobel_edge_map


class EdgeOnlyGuidance(Guidance):
    def __init__(
        self, width: int = 1536, stem_widths: Sequence[int] = (32, 128, 256, 512, 1536), num_heads: int = 24,
        in_channels: int = 3, **_ignored: object,
    ) -> None:
        super().__init__()
        self.lr_encoder = ConvStem(in_channels, stem_widths, width)
        self.edge_encoder = ConvStem(in_channels, stem_widths, width)
        self.cross_attention = CrossAttention(width, num_heads)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        lr_tokens = self.lr_encoder(lr).flatten(2).transpose(1, 2)
        edge_tokens = self.edge_encoder(sobel_edge_map(lr)).flatten(2).transpose(1, 2)
        guided, _ = self.cross_attention(lr_tokens, edge_tokens)
        return torch.cat([lr_tokens, guided], dim=1)
