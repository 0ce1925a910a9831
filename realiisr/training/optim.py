"""AdamW with the reference's no-decay groups and its warm-up / flat / linear-decay schedule."""
from __future__ import annotations

from typing import Iterable, Optional

import torch
from torch import nn

__all__ = ["NO_DECAY_NAMES", "param_groups", "build_optimizer", "lr_factor"]

#: Parameters whose names contain any of these get no weight decay (besides 1-D tensors and biases).
NO_DECAY_NAMES = ("cls_token", "start_token", "task_token", "cfg_uncond", "pos_embed", "pos_1LC", "pos_start",
                  "start_pos", "lvl_embed", "gamma", "beta", "ada_gss", "moe_bias", "scale_mul")


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        if param.ndim <= 1 or name.endswith(".bias") or any(key in name for key in NO_DECAY_NAMES):
            no_decay.append(param)
        else:
            decay.append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def build_optimizer(model: nn.Module, lr: float, weight_decay: float = 0.05, betas: Iterable[float] = (0.9, 0.95),
                    fused: Optional[bool] = None):
    """AdamW over :func:`param_groups`; ``fused=None`` uses the fused CUDA kernel when every trained parameter
    is on a CUDA device (one launch per step instead of a loop over the tensors)."""
    groups = param_groups(model, weight_decay)
    if fused is None:
        params = [p for g in groups for p in g["params"]]
        fused = bool(params) and all(p.is_cuda for p in params)
    return torch.optim.AdamW(groups, lr=lr, betas=tuple(betas), fused=fused or None)


def lr_factor(step: int, total: int, warmup: int, flat_fraction: float = 0.3, start: float = 0.005,
              end: float = 0.01) -> float:
    """Multiplier of the peak lr: linear warm-up from ``start``, flat for ``flat_fraction`` of the rest, then
    linear decay to ``end`` at the last step (the reference's 'lin0')."""
    if warmup > 0 and step < warmup:
        return start + (1 - start) * step / warmup
    rest = max(1, total - warmup)
    progress = (step - warmup) / rest
    if progress <= flat_fraction:
        return 1.0
    return 1.0 + (end - 1.0) * min(1.0, (progress - flat_fraction) / max(1e-8, 1 - flat_fraction))
