"""Multi-scale block-causal attention (the VAR mask: bidirectional within a level, causal across levels).

The fused op (``torch.ops.realiisr.scale_attention``) runs level by level — each level's queries
against the key prefix they may see — so masked blocks are skipped and no L×L mask exists; the eager
reference is PyTorch's SDPA with the boolean mask (fallback, test oracle and benchmark baseline).
"""
from __future__ import annotations

import os
from typing import Optional, Sequence

import torch
from torch import Tensor

from realiisr.ops._dispatch import choose_backend, grad_will_flow
from realiisr.ops.reference import scale_attention_reference

__all__ = ["scale_attention"]


def scale_attention(
    q: Tensor, k: Tensor, v: Tensor, level_ends: Optional[Sequence[int]], scale: Optional[float] = None
) -> Tensor:
    """Attention of ``q [B, H, Lq, D]`` over ``k, v [B, H, Lk, D]``.

    Args:
        level_ends: exclusive end offsets of each level in the key sequence (the last equals ``Lk``); the
            queries are the last ``Lq`` positions. ``None``: no mask (a KV-cache step).
        scale: softmax scale (default ``D**-0.5``; the VAR blocks use 1 with L2-normalised q/k).
    """
    if q.dim() != 4 or k.shape != v.shape or q.shape[:2] != k.shape[:2] or q.shape[-1] != k.shape[-1]:
        raise ValueError(
            f"scale_attention: expected q [B,H,Lq,D] and k, v [B,H,Lk,D], got {tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}"
        )
    if level_ends is not None:
        ends = list(level_ends)
        if not ends or ends[-1] != k.shape[-2] or any(b <= a for a, b in zip([0] + ends[:-1], ends)):
            raise ValueError(f"scale_attention: level_ends {ends} must increase strictly and end at Lk={k.shape[-2]}")
        if q.shape[-2] > k.shape[-2]:
            raise ValueError(f"scale_attention: {q.shape[-2]} queries but only {k.shape[-2]} keys")
    if level_ends is None:  # one level: the op would be this same SDPA call plus ~50 us of dispatch (H200, bf16)
        return scale_attention_reference(q, k, v, None, scale)
    with_grad = grad_will_flow(q, k, v)
    if q.device.type == "cuda" and with_grad and os.environ.get("REALIISR_ATTENTION", "").lower() == "flex":
        from realiisr.ops.flex_attention import flex_scale_attention

        return flex_scale_attention(q, k, v, level_ends, scale)
    backend, _ = choose_backend("scale_attention", q.device, with_grad, tokens=q.shape[-2])
    if backend == "fused" and q.dtype == k.dtype == v.dtype and q.shape[-2] <= k.shape[-2]:
        ends = [int(e) for e in level_ends]
        softmax_scale = q.shape[-1] ** -0.5 if scale is None else float(scale)
        return torch.ops.realiisr.scale_attention(q, k, v, ends, softmax_scale)
    return scale_attention_reference(q, k, v, level_ends, scale)
