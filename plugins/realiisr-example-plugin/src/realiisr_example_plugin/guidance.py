"""Edge-only guidance: the Sobel edge map of the LR image encoded into tokens, without a thermal map."""
from __future__ import annotations

import torch
from torch import nn

from realiisr.core.interfaces import Guidance

from realiisr_example_plugin._sobel import sobel_xy


class EdgeOnlyGuidance(Guidance):
    """LR ``[B, C, H, W]`` → tokens ``[B, (H/2^n)(W/2^n), widths[-1]]`` through a strided conv stem."""

    def __init__(self, in_channels: int = 3, widths: tuple[int, ...] = (16, 32, 64, 128), **_: object) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels, widths[0], 3, padding=1), nn.SiLU()]
        for c_in, c_out in zip(widths[:-1], widths[1:]):
            layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), nn.SiLU()]
        self.stem = nn.Sequential(*layers)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        gx, gy = sobel_xy(lr)
        features = self.stem(torch.sqrt(gx * gx + gy * gy))
        return features.flatten(2).transpose(1, 2)
