"""Thermal-structural guidance (TSG): thermal response and Sobel edge maps, fused, injected by cross-attention.

The guidance output is the generator's whole conditioning context: ``[LR tokens | TSG tokens]``, each a
``side × side`` map flattened row-major (side = LR size / 16).
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from realiisr.core.interfaces import Guidance
from realiisr.core.registries import GUIDANCE
from realiisr.guidance.encoders import build_encoder

__all__ = ["ThermalStructuralGuidance", "thermal_response_map", "sobel_edge_map", "AttentionalFeatureFusion", "CrossAttention"]

_SOBEL_X = ((1.0, 0.0, -1.0), (2.0, 0.0, -2.0), (1.0, 0.0, -1.0))


def thermal_response_map(lr: Tensor, alpha: float = 3.0, eps: float = 1e-5) -> Tensor:
    """``sigmoid(α·z)`` of the per-image z-scored channel mean (unbiased std, ``eps`` added to it) → ``[B,1,H,W]``."""
    m = lr.mean(dim=1, keepdim=True)
    flat = m.flatten(1)
    mean = flat.mean(dim=1).view(-1, 1, 1, 1)
    std = flat.std(dim=1, unbiased=True).view(-1, 1, 1, 1)
    return torch.sigmoid(alpha * (m - mean) / (std + eps))


def sobel_edge_map(lr: Tensor) -> Tensor:
    """Per-channel Sobel magnitude ``sqrt(gx² + gy²)`` with zero padding (no eps, no normalisation)."""
    channels = lr.shape[1]
    gx = torch.tensor(_SOBEL_X, dtype=lr.dtype, device=lr.device)
    kernels = torch.stack([gx, gx.t()]).unsqueeze(1).repeat(channels, 1, 1, 1)  # [2C, 1, 3, 3]
    grads = F.conv2d(lr, kernels, padding=1, groups=channels).view(lr.shape[0], channels, 2, *lr.shape[-2:])
    return torch.sqrt(grads.square().sum(dim=2))


class AttentionalFeatureFusion(nn.Module):
    """AFF: ``w = σ(L(x+y) + G(x+y))``, output ``2·x·w + 2·y·(1-w)`` (the reference's factor 2 kept)."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        inter = channels // reduction

        def branch() -> list[nn.Module]:
            return [nn.Conv2d(channels, inter, 1), nn.BatchNorm2d(inter), nn.ReLU(inplace=True),
                    nn.Conv2d(inter, channels, 1), nn.BatchNorm2d(channels)]

        self.local_branch = nn.Sequential(*branch())
        self.global_branch = nn.Sequential(nn.AdaptiveAvgPool2d(1), *branch())

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        s = x + y
        w = torch.sigmoid(self.local_branch(s) + self.global_branch(s))
        return 2 * x * w + 2 * y * (1 - w)


class CrossAttention(nn.Module):
    """Multi-head attention with biased projections, no residual and no norm (queries: LR tokens)."""

    def __init__(self, width: int, num_heads: int) -> None:
        super().__init__()
        if width % num_heads:
            raise ValueError(f"cross-attention width {width} is not divisible by {num_heads} heads")
        self.num_heads = num_heads
        self.q_proj, self.k_proj = nn.Linear(width, width), nn.Linear(width, width)
        self.v_proj, self.out_proj = nn.Linear(width, width), nn.Linear(width, width)

    def forward(self, query: Tensor, context: Tensor, need_weights: bool = False) -> tuple[Tensor, Optional[Tensor]]:
        b, n, c = query.shape
        heads = self.num_heads

        def split(t: Tensor) -> Tensor:
            return t.view(b, -1, heads, c // heads).transpose(1, 2)

        q, k, v = split(self.q_proj(query)), split(self.k_proj(context)), split(self.v_proj(context))
        weights = None
        if need_weights:
            weights = torch.softmax(q @ k.transpose(-1, -2) * (c // heads) ** -0.5, dim=-1)
            out = weights @ v
        else:
            out = F.scaled_dot_product_attention(q, k, v)
        return self.out_proj(out.transpose(1, 2).reshape(b, n, c)), weights


@GUIDANCE.register(name="tsg", aliases=("thermal_structural",))
class ThermalStructuralGuidance(Guidance):
    """LR image ``[B, 3, H, W]`` in [-1, 1] (already upsampled to the output size) → context ``[B, 2·(H/16)², width]``.

    Args:
        width: token width (the generator width).
        encoder: encoder of the thermal and edge maps: ``conv`` (the reference's stems) or ``dinov3`` (timm;
            see :mod:`realiisr.guidance.dinov3`, as in the paper).
        lr_encoder: encoder of the LR image itself (the reference's conv stem, inherited from VARSR).
        stem_widths: conv stem widths; the reference uses (32, 128, 256, 512, 1536).
        alpha, eps: thermal response map sharpness and std epsilon.
        fusion_reduction: AFF channel reduction ``r``.
        num_heads: cross-attention heads.
        encoder_options: extra arguments of the encoder (e.g. DINOv3 model name and weights path).
    """

    def __init__(
        self,
        *,
        width: int = 1536,
        encoder: str = "conv",
        lr_encoder: str = "conv",
        stem_widths: Sequence[int] = (32, 128, 256, 512, 1536),
        alpha: float = 3.0,
        eps: float = 1e-5,
        fusion_reduction: int = 4,
        num_heads: int = 24,
        in_channels: int = 3,
        encoder_options: Optional[dict] = None,
    ) -> None:
        super().__init__()
        options = dict(encoder_options or {})
        self.width, self.alpha, self.eps = width, alpha, eps
        self.lr_encoder = build_encoder(lr_encoder, in_channels, width, stem_widths, **(options if lr_encoder == encoder else {}))
        self.heat_encoder = build_encoder(encoder, 1, width, stem_widths, **options)
        self.edge_encoder = build_encoder(encoder, in_channels, width, stem_widths, **options)
        self.fusion = AttentionalFeatureFusion(width, fusion_reduction)
        self.cross_attention = CrossAttention(width, num_heads)

    @staticmethod
    def context_maps(side: int) -> list[int]:
        """Token-map sides of the context: the LR map and the TSG map, both ``side × side``."""
        return [side, side]

    def features(self, lr: Tensor, need_weights: bool = False) -> dict[str, Tensor]:
        """Every intermediate (for tests, ablations and figures)."""
        heat_map = thermal_response_map(lr, self.alpha, self.eps)
        edge_map = sobel_edge_map(lr)
        lr_feat = self.lr_encoder(lr)
        heat_feat, edge_feat = self.heat_encoder(heat_map), self.edge_encoder(edge_map)
        fused = self.fusion(heat_feat, edge_feat)
        lr_tokens = lr_feat.flatten(2).transpose(1, 2)
        fused_tokens = fused.flatten(2).transpose(1, 2)
        guided, weights = self.cross_attention(lr_tokens, fused_tokens, need_weights)
        out = {
            "thermal_response_map": heat_map, "sobel_edge_map": edge_map, "lr_feat": lr_feat,
            "heat_feat": heat_feat, "edge_feat": edge_feat, "aff_out": fused, "aff_tokens": fused_tokens,
            "cross_attn_out": guided, "context": torch.cat([lr_tokens, guided], dim=1),
        }
        if weights is not None:
            out["cross_attn_weights"] = weights
        return out

    def forward(self, lr: Tensor) -> Tensor:
        return self.features(lr)["context"]
