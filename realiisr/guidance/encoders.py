"""Image encoders that turn a guidance map into a ``[B, width, h, w]`` feature grid."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from realiisr.layers import silu_fresh

__all__ = ["ConvStem", "build_encoder"]


class ConvStem(nn.Module):
    """The reference's ControlNet-style stem: 16× down-sampling in four stride-2 stages.

    ``conv_in`` (in → w0) → for each stage ``(w_i, w_{i+1})``: conv w_i→w_i, conv w_i→w_{i+1} stride 2 (each
    followed by SiLU) → ``conv_out`` (w_last → width, no activation).
    """

    def __init__(self, in_channels: int, widths: Sequence[int], width: int) -> None:
        super().__init__()
        widths = list(widths)
        self.conv_in = nn.Conv2d(in_channels, widths[0], 3, padding=1)
        layers = []
        for c_in, c_out in zip(widths[:-1], widths[1:]):
            layers.append(nn.Conv2d(c_in, c_in, 3, padding=1))
            layers.append(nn.Conv2d(c_in, c_out, 3, padding=1, stride=2))
        self.blocks = nn.ModuleList(layers)
        self.conv_out = nn.Conv2d(widths[-1], width, 3, padding=1)
        self.downsample = 2 ** (len(widths) - 1)

    def forward(self, x: Tensor) -> Tensor:
        if x.device.type == "cpu" and torch.is_autocast_enabled("cpu"):
            # Reduced precision: oneDNN's channels-last convolutions, -5 % per upscaled frame (A/B, bf16). fp32
            # keeps NCHW, the summation order the reference's TSG intermediates match to 2e-4 (channels-last
            # moved one of 16384 values by 2.5e-4).
            x = x.contiguous(memory_format=torch.channels_last)
        h = silu_fresh(self.conv_in(x))
        for conv in self.blocks:
            h = silu_fresh(conv(h))
        return self.conv_out(h)


def build_encoder(kind: str, in_channels: int, width: int, stem_widths: Sequence[int], **options: object) -> nn.Module:
    """``conv``: :class:`ConvStem`; ``dinov3``: a timm DINOv3 backbone (see :mod:`realiisr.guidance.dinov3`)."""
    if kind == "conv":
        return ConvStem(in_channels, stem_widths, width)
    if kind == "dinov3":
        from realiisr.guidance.dinov3 import DinoV3Encoder

        return DinoV3Encoder(in_channels=in_channels, width=width, **options)
    raise ValueError(f"unknown guidance encoder {kind!r}; choose 'conv' or 'dinov3'")
