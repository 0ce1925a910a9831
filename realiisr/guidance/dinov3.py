"""DINOv3 (timm) as a TSG map encoder: patch-16 features projected to the token width.

Weights are read only from a local file (``weights=PATH``): nothing is downloaded. Without a file the
backbone starts from random initialisation (useful for tests and shape checks, not for quality).
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Union

import torch
from torch import Tensor, nn

from realiisr.core.weights import WeightsError

__all__ = ["DinoV3Encoder"]


class DinoV3Encoder(nn.Module):
    """Map ``[B, C, H, W]`` (a [-1, 1] image or a guidance map) → ``[B, width, H/16, W/16]``.

    Args:
        in_channels: 1-channel maps are repeated to RGB.
        width: output channels (the generator width).
        model: a timm DINOv3 architecture, e.g. ``vit_small_patch16_dinov3`` (21.6 M parameters).
        weights: local timm-compatible weight file; ``None`` leaves the backbone randomly initialised.
        freeze: keep the backbone frozen (only the projection trains).
    """

    def __init__(
        self, in_channels: int, width: int, model: str = "vit_small_patch16_dinov3",
        weights: Optional[Union[str, Path]] = None, freeze: bool = True,
    ) -> None:
        super().__init__()
        try:
            import timm
        except ImportError as exc:  # timm is the optional `dinov3` extra
            raise ImportError("the dinov3 guidance encoder needs timm: pip install 'realiisr[dinov3]'") from exc
        if "dinov3" not in model:
            raise ValueError(f"dinov3 encoder: {model!r} is not a timm DINOv3 architecture")
        options: dict = {"pretrained": False, "num_classes": 0}
        if weights is not None:
            path = Path(weights)
            if not path.is_file():
                raise WeightsError(f"DINOv3 weights {str(path)!r} do not exist (no download is attempted)")
            options = {"pretrained": True, "num_classes": 0, "pretrained_cfg_overlay": {"file": str(path)}}
        self.backbone = timm.create_model(model, **options)
        self.in_channels = in_channels
        self.patch = 16
        cfg = self.backbone.pretrained_cfg
        self.register_buffer("mean", torch.tensor(cfg.get("mean", (0.485, 0.456, 0.406))).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(cfg.get("std", (0.229, 0.224, 0.225))).view(1, 3, 1, 1), persistent=False)
        self.proj = nn.Conv2d(self.backbone.embed_dim, width, 1)
        if freeze:
            self.backbone.requires_grad_(False)

    def forward(self, x: Tensor) -> Tensor:
        b, _, h, w = x.shape
        if h % self.patch or w % self.patch:
            raise ValueError(f"dinov3 encoder: input {h}x{w} is not a multiple of {self.patch}")
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        x = ((x + 1) / 2 - self.mean) / self.std
        tokens = self.backbone.forward_features(x)[:, self.backbone.num_prefix_tokens :]
        grid = tokens.transpose(1, 2).reshape(b, -1, h // self.patch, w // self.patch)
        return self.proj(grid.to(self.proj.weight.dtype))


