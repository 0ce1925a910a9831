"""Block-causal multi-scale attention through PyTorch's FlexAttention (the CUDA training path).

A query of level a sees the keys of levels ≤ a. FlexAttention takes that rule as a ``mask_mod`` and builds a
``BlockMask`` once per sequence layout (cached here), so its kernel skips the fully masked blocks — about a third
of the score matrix at the full training sequence — in the forward and the backward, where per-level SDPA
rewrites the whole key/value gradient per level. On CUDA the call goes through ``torch.compile`` (FlexAttention's
fused kernel comes from it; compiled once per shape); elsewhere FlexAttention runs its unfused reference, which
is what the CPU tests compare (PyTorch has no CPU backward for it).

Chosen by ``REALIISR_ATTENTION=flex`` (CUDA, with gradients); ``benchmarks/bench_scale_attention.py`` measures
it beside the masked SDPA on a GPU.
"""
from __future__ import annotations

import functools
from typing import Optional, Sequence

import torch
from torch import Tensor

__all__ = ["level_block_mask", "flex_scale_attention"]

_COMPILED: dict[str, object] = {}


@functools.lru_cache(maxsize=16)
def level_block_mask(level_ends: tuple[int, ...], q_len: int, device: str):
    """The ``BlockMask`` of the level rule for ``q_len`` queries (the last positions) over ``level_ends[-1]`` keys."""
    from torch.nn.attention.flex_attention import create_block_mask

    k_len = level_ends[-1]
    key_level = torch.bucketize(torch.arange(k_len, device=device), torch.tensor(level_ends, device=device), right=True)
    offset = k_len - q_len

    def mask_mod(b, h, q_idx, kv_idx):
        return key_level[kv_idx] <= key_level[q_idx + offset]

    return create_block_mask(mask_mod, B=None, H=None, Q_LEN=q_len, KV_LEN=k_len, device=device)


def flex_scale_attention(q: Tensor, k: Tensor, v: Tensor, level_ends: Sequence[int],
                         scale: Optional[float] = None) -> Tensor:
    """``scale_attention`` through FlexAttention: ``q [B, H, Lq, D]`` over ``k, v [B, H, Lk, D]``."""
    from torch.nn.attention.flex_attention import flex_attention

    mask = level_block_mask(tuple(int(e) for e in level_ends), q.shape[-2], str(q.device))
    run = flex_attention
    if q.device.type == "cuda":
        if "cuda" not in _COMPILED:
            _COMPILED["cuda"] = torch.compile(flex_attention, dynamic=False)
        run = _COMPILED["cuda"]
    return run(q, k, v, block_mask=mask, scale=scale)
