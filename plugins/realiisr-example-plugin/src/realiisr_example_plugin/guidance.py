"""Ablation guidance built from realiisr's public building blocks, keeping the builtin ``tsg`` contract
(LR ``[B, 3, H, W]`` in [-1, 1] → context tokens of the generator width):

- ``edge_only``: LR tokens plus Sobel-edge tokens injected by cross-attention (w/o the thermal map);
- ``thermal_only``: LR tokens plus thermal-response tokens injected by cross-attention (w/o edges);
- ``lr_only``: the LR tokens alone (w/o TSG); pair it with ``generator.context_maps=[side]``.
"""
from __future__ import annotations

from typing import Sequence

import torch

from realiisr.core.interfaces import Guidance
from realiisr.guidance.encoders import ConvStem
from realiisr.guidance.tsg import CrossAttention, sobel_edge_map, thermal_response_map


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


class ThermalOnlyGuidance(EdgeOnlyGuidance):
    def __init__(self, width: int = 1536, stem_widths: Sequence[int] = (32, 128, 256, 512, 1536), num_heads: int = 24,
                 in_channels: int = 3, alpha: float = 3.0, **_ignored: object) -> None:
        super().__init__(width, stem_widths, num_heads, in_channels)
        self.edge_encoder = ConvStem(1, stem_widths, width)  # encodes the thermal response map here
        self.alpha = alpha

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        lr_tokens = self.lr_encoder(lr).flatten(2).transpose(1, 2)
        heat_tokens = self.edge_encoder(thermal_response_map(lr, self.alpha)).flatten(2).transpose(1, 2)
        guided, _ = self.cross_attention(lr_tokens, heat_tokens)
        return torch.cat([lr_tokens, guided], dim=1)


class LROnlyGuidance(Guidance):
    def __init__(self, width: int = 1536, stem_widths: Sequence[int] = (32, 128, 256, 512, 1536), in_channels: int = 3,
                 **_ignored: object) -> None:
        super().__init__()
        self.lr_encoder = ConvStem(in_channels, stem_widths, width)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        return self.lr_encoder(lr).flatten(2).transpose(1, 2)
