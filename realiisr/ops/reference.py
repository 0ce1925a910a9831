"""Eager PyTorch references of the fused ops.

Each function here is at once the runtime fallback (no extension, or ``REALIISR_OPS=eager``), the test
oracle for the fused kernels and the baseline of the benchmarks, so it lives in exactly one place.
They follow the reference implementation's conventions (see ../shared/golden/README.md).
"""
from __future__ import annotations

import functools
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "TOC_OFFSETS",
    "cac_codebook_reference",
    "cac_embedding_reference",
    "group_norm_silu_reference",
    "neighbour_differences",
    "reduce_toc_map",
    "scale_attention_reference",
    "toc_loss_map_reference",
    "toc_loss_reference",
]

#: The 8 neighbour offsets (dy, dx) of the thermal-order-consistency loss.
TOC_OFFSETS = tuple((dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0))


def toc_loss_map_reference(sr: Tensor, hr: Tensor, patch_size: int = 8, threshold: float = 0.1) -> Tensor:
    """Per-patch TOC loss ``[B, 1, H // p, W // p]``; ``hr`` is detached (it is the target).

    Channel mean → ``p×p`` average pooling (trailing rows/columns dropped) → for each of the 8 neighbour
    offsets ``relu(-(Δsr·Δhr))·[|Δhr| ≥ τ]`` → sum / 8. A neighbour outside the patch grid contributes 0:
    the reference fills the wrapped rows/columns of its rolled maps with the centre's own edge values.
    """
    s = F.avg_pool2d(sr.mean(dim=1, keepdim=True), patch_size, patch_size)
    t = F.avg_pool2d(hr.detach().mean(dim=1, keepdim=True), patch_size, patch_size)
    height, width = s.shape[-2:]
    total = s * 0  # keeps the graph connected when the grid has a single patch
    for (y0, y1, x0, x1), ds, dt in neighbour_differences(s, t):
        term = F.relu(-(ds * dt)) * (dt.abs() >= threshold).to(s.dtype)
        total = total + F.pad(term, (x0, width - x1, y0, height - y1))
    return total / len(TOC_OFFSETS)


def neighbour_differences(s: Tensor, t: Tensor):
    """For each offset, ``((y0, y1, x0, x1), Δs, Δt)`` over the centres whose neighbour lies inside the grid."""
    height, width = s.shape[-2:]
    for dy, dx in TOC_OFFSETS:
        y0, y1 = max(0, -dy), height - max(0, dy)
        x0, x1 = max(0, -dx), width - max(0, dx)
        if y1 <= y0 or x1 <= x0:
            continue
        ds = s[..., y0:y1, x0:x1] - s[..., y0 + dy : y1 + dy, x0 + dx : x1 + dx]
        dt = t[..., y0:y1, x0:x1] - t[..., y0 + dy : y1 + dy, x0 + dx : x1 + dx]
        yield (y0, y1, x0, x1), ds, dt


def reduce_toc_map(loss_map: Tensor, reduction: str) -> Tensor:
    """``mean``: per-image sum over patches, then the batch mean (the reference's convention)."""
    if reduction == "none":
        return loss_map
    if reduction == "sum":
        return loss_map.sum()
    if reduction == "mean":
        return loss_map.sum(dim=(1, 2, 3)).mean()
    raise ValueError(f"toc_loss: reduction must be 'none', 'sum' or 'mean', got {reduction!r}")


def toc_loss_reference(
    sr: Tensor, hr: Tensor, patch_size: int = 8, threshold: float = 0.1, reduction: str = "mean"
) -> Tensor:
    """The thermal-order-consistency loss, eager PyTorch."""
    return reduce_toc_map(toc_loss_map_reference(sr, hr, patch_size, threshold), reduction)


def cac_embedding_reference(idx: Tensor, codebook: Tensor, U: Tensor, V: Tensor, h: Tensor, gate: Tensor) -> Tensor:
    """``codebook[idx] + tanh(gate) · (U[idx] ⊙ h[b]) Vᵀ`` → ``[B, L, C]`` for ``idx [B, L]``, ``h [B, r]``."""
    offset = (F.embedding(idx, U) * h.unsqueeze(1)) @ V.t()
    return F.embedding(idx, codebook) + torch.tanh(gate) * offset


def cac_codebook_reference(codebook: Tensor, U: Tensor, V: Tensor, h: Tensor, gate: Tensor) -> Tensor:
    """The whole conditioned codebook ``[B, V, C]``."""
    return codebook.unsqueeze(0) + torch.tanh(gate) * ((U.unsqueeze(0) * h.unsqueeze(1)) @ V.t())


def group_norm_silu_reference(
    x: Tensor, num_groups: int, weight: Optional[Tensor] = None, bias: Optional[Tensor] = None, eps: float = 1e-5
) -> Tensor:
    """``silu(group_norm(x))``: the pre-activation of the VQ-VAE's residual blocks."""
    return F.silu(F.group_norm(x, num_groups, weight, bias, eps))


@functools.lru_cache(maxsize=16)
def _level_mask(level_ends: tuple[int, ...], q_len: int, device: str) -> Tensor:
    """Boolean ``[q_len, k_len]``: query of level a sees key of level b iff b ≤ a (queries are the last q_len rows)."""
    k_len = level_ends[-1]
    ends = torch.tensor(level_ends, device=device)
    rows = torch.arange(k_len - q_len, k_len, device=device)
    row_level = torch.bucketize(rows, ends, right=True)
    visible_end = ends[row_level]
    return torch.arange(k_len, device=device).unsqueeze(0) < visible_end.unsqueeze(1)


def scale_attention_reference(
    q: Tensor, k: Tensor, v: Tensor, level_ends: Optional[Sequence[int]], scale: Optional[float] = None
) -> Tensor:
    """Block-causal attention over ``[context | scale 1 | scale 2 | ...]``.

    ``level_ends`` are the exclusive end offsets of each level in the key sequence; a query attends to every
    key of its own and earlier levels. ``None`` means no mask (a KV-cache step over the newest level).
    """
    if level_ends is None:
        return F.scaled_dot_product_attention(q, k, v, scale=scale)
    mask = _level_mask(tuple(int(e) for e in level_ends), q.shape[-2], str(q.device))
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale)
