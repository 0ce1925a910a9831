"""Conditional adaptive codebook ops: per-token embedding and the whole conditioned codebook."""
from __future__ import annotations

import functools

import torch
from torch import Tensor

from realiisr.ops._dispatch import choose_backend
from realiisr.ops.reference import cac_codebook_reference, cac_embedding_reference

__all__ = ["cac_embedding", "cac_codebook"]


def _check_factors(codebook: Tensor, U: Tensor, V: Tensor, h: Tensor, gate: Tensor, op: str) -> None:
    if codebook.dim() != 2:
        raise ValueError(f"{op}: codebook must be [V, C], got {tuple(codebook.shape)}")
    vocab, dim = codebook.shape
    if U.dim() != 2 or U.shape[0] != vocab:
        raise ValueError(f"{op}: U must be [V={vocab}, r], got {tuple(U.shape)}")
    rank = U.shape[1]
    if tuple(V.shape) != (dim, rank):
        raise ValueError(f"{op}: V must be [C={dim}, r={rank}], got {tuple(V.shape)}")
    if h.dim() != 2 or h.shape[1] != rank:
        raise ValueError(f"{op}: h must be [B, r={rank}], got {tuple(h.shape)}")
    if gate.numel() != 1:
        raise ValueError(f"{op}: gate must hold one value, got shape {tuple(gate.shape)}")
    devices = {t.device for t in (codebook, U, V, h, gate)}
    if len(devices) != 1:
        raise ValueError(f"{op}: all tensors must be on one device, got {sorted(map(str, devices))}")


def _common_dtype(*floats: Tensor, op: str) -> tuple[Tensor, ...]:
    """The factors in one floating dtype (e.g. a bf16 ``h`` from autocast beside fp32 factors)."""
    if not all(t.is_floating_point() for t in floats):
        raise TypeError(f"{op}: codebook, U, V, h and gate must be floating point, got {[str(t.dtype) for t in floats]}")
    common = functools.reduce(torch.promote_types, (t.dtype for t in floats))
    return tuple(t.to(common) for t in floats)


def cac_embedding(idx: Tensor, codebook: Tensor, U: Tensor, V: Tensor, h: Tensor, gate: Tensor) -> Tensor:
    """``out[b, l] = codebook[idx[b, l]] + tanh(gate) · V (U[idx[b, l]] ⊙ h[b])`` → ``[B, L, C]``.

    Raises:
        ValueError: wrong shapes or devices, or ids outside ``[0, V)``.
    """
    op = "cac_embedding"
    _check_factors(codebook, U, V, h, gate, op)
    if idx.dim() != 2 or idx.dtype.is_floating_point or idx.shape[0] != h.shape[0]:
        raise ValueError(f"{op}: idx must be an integer [B={h.shape[0]}, L] tensor, got {idx.dtype} {tuple(idx.shape)}")
    if idx.device != codebook.device:
        raise ValueError(f"{op}: idx is on {idx.device} but the codebook is on {codebook.device}")
    codebook, U, V, h, gate = _common_dtype(codebook, U, V, h, gate, op=op)
    backend, _ = choose_backend(op, idx.device)
    if backend == "fused":
        try:  # the kernel checks the id range itself (one reduction, no second pass here)
            return torch.ops.realiisr.cac_embedding(idx.long(), codebook, U, V, h, gate.reshape(1))
        except RuntimeError as exc:
            if "token ids must lie" in str(exc):
                raise ValueError(str(exc).splitlines()[0].replace("realiisr::", "")) from exc
            raise
    if idx.numel():
        low, high = (int(v) for v in torch.aminmax(idx))
        if low < 0 or high >= codebook.shape[0]:
            raise ValueError(f"{op}: token ids must lie in [0, {codebook.shape[0]}), got [{low}, {high}]")
    return cac_embedding_reference(idx, codebook, U, V, h, gate)


def cac_codebook(codebook: Tensor, U: Tensor, V: Tensor, h: Tensor, gate: Tensor) -> Tensor:
    """The whole conditioned codebook ``[B, V, C]`` (nearest-code search and decoding under a condition)."""
    op = "cac_codebook"
    _check_factors(codebook, U, V, h, gate, op)
    codebook, U, V, h, gate = _common_dtype(codebook, U, V, h, gate, op=op)
    backend, _ = choose_backend(op, h.device)
    if backend == "fused":  # one pass over the [B, V, C] output on the CPU
        return torch.ops.realiisr.cac_codebook(codebook, U, V, h, gate.reshape(1))
    return cac_codebook_reference(codebook, U, V, h, gate)
