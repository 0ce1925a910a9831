"""Transformer pieces of the VAR generator: 2-D RoPE, L2-normalised attention with a KV cache, AdaLN blocks."""
from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from realiisr.generators.block_ops import apply_rope, attention_inputs, block_output, compiled_block_ops
from realiisr.ops import scale_attention

__all__ = ["rope_angles", "apply_rope", "SelfAttention", "AdaLNBlock", "AdaLNHead", "DropPath"]


def rope_angles(head_dim: int, maps: Sequence[int], grid: int = 32, theta: float = 10000.0) -> Tensor:
    """Rotation angles ``[N, head_dim / 2]`` for the token maps ``maps`` (sides), concatenated in order.

    Token (i, j) of a ``pn × pn`` map sits at ``(i·grid/pn, j·grid/pn)`` on a fixed grid (the reference
    hard-codes 32, whatever the final map size). The first half of the rotation pairs turns with the row
    coordinate, the second half with the column, at frequencies ``θ^(-4k/head_dim)``.
    """
    freqs = 1.0 / (theta ** (torch.arange(0, head_dim, 4)[: head_dim // 4].float() / head_dim))
    rows, cols = [], []
    for pn in maps:
        i, j = torch.meshgrid(torch.arange(pn), torch.arange(pn), indexing="ij")
        rows.append(i.flatten() / pn * grid)
        cols.append(j.flatten() / pn * grid)
    return torch.cat([torch.outer(torch.cat(rows), freqs), torch.outer(torch.cat(cols), freqs)], dim=1)


class DropPath(nn.Module):
    """Stochastic depth per sample (a few lines, so no dependency for it)."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0:
            return x
        keep = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(1 - self.p)
        return x * keep / (1 - self.p)


class SelfAttention(nn.Module):
    """Attention with q/v biases (no k bias), L2-normalised q/k, a learnt per-head scale and RoPE after the norm."""

    def __init__(self, width: int, num_heads: int, l2_norm: bool = True, attn_drop: float = 0.0) -> None:
        super().__init__()
        self.num_heads, self.head_dim = num_heads, width // num_heads
        self.l2_norm = l2_norm
        self.mat_qkv = nn.Linear(width, 3 * width, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(width))
        self.v_bias = nn.Parameter(torch.zeros(width))
        if l2_norm:
            self.scale_mul = nn.Parameter(torch.full((1, num_heads, 1, 1), math.log(4.0)))
            self.max_scale_mul = math.log(100.0)
        self.proj = nn.Linear(width, width)
        self.attn_drop = attn_drop
        self.cache: Optional[tuple[Tensor, Tensor]] = None  # keys and values so far (views of the buffers)
        self.caching = False
        self._capacity: Optional[int] = None
        self._kv_buffers: Optional[tuple[Tensor, Tensor]] = None

    def set_caching(self, enabled: bool, capacity: Optional[int] = None,
                    buffers: Optional[tuple[Tensor, Tensor]] = None) -> None:
        """Start (or stop) a KV cache. With ``capacity`` (the whole sequence's length) keys and values are
        written in place into buffers allocated once, instead of concatenated anew at every scale (a copy of
        the whole cache per step, 14 % of the GPU time of a full-size sample). ``buffers``: keys and values
        ``[B, H, capacity, D]`` owned by the caller (captured CUDA graphs write through their addresses)."""
        if buffers is not None and (capacity is None or buffers[0].shape[2] != capacity):
            raise ValueError(f"KV cache: buffers of {buffers[0].shape[2]} tokens for a capacity of {capacity}")
        self.caching, self.cache, self._capacity, self._kv_buffers = enabled, None, capacity, buffers

    @property
    def kv_buffers(self) -> Optional[tuple[Tensor, Tensor]]:
        """The in-place cache's key and value buffers, once the first step has allocated them."""
        return self._kv_buffers

    def _append(self, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        filled = 0 if self.cache is None else self.cache[0].shape[2]
        if self._capacity is None:
            if self.cache is not None:
                k, v = torch.cat((self.cache[0], k), dim=2), torch.cat((self.cache[1], v), dim=2)
            return k, v
        if self._kv_buffers is None:
            shape = (k.shape[0], k.shape[1], self._capacity, k.shape[3])
            self._kv_buffers = (k.new_empty(shape), v.new_empty(shape))
        end = filled + k.shape[2]
        if end > self._capacity or self._kv_buffers[0].dtype != k.dtype or self._kv_buffers[0].shape[0] != k.shape[0]:
            raise RuntimeError(f"KV cache: {end} tokens of {k.dtype} x{k.shape[0]} do not fit the buffer "
                               f"({self._capacity} tokens of {self._kv_buffers[0].dtype} x{self._kv_buffers[0].shape[0]})")
        self._kv_buffers[0][:, :, filled:end].copy_(k)
        self._kv_buffers[1][:, :, filled:end].copy_(v)
        return self._kv_buffers[0][:, :, :end], self._kv_buffers[1][:, :, :end]

    def forward(self, q: Tensor, k: Tensor, v: Tensor, level_ends: Optional[Sequence[int]]) -> Tensor:
        """Attention of ``q [B, H, n_q, D]`` over ``k, v [B, H, n, D]`` (appended to the cache first, if one is
        on) → ``[B, n_q, C]`` with the heads merged; the projections are :mod:`block_ops`' (with this module's
        weights)."""
        if self.caching:
            k, v = self._append(k, v)
            self.cache = (k, v)
        if self.training and self.attn_drop > 0:
            raise NotImplementedError("attention dropout is not supported (the reference uses 0)")
        out = scale_attention(q, k, v, level_ends, scale=1.0 if self.l2_norm else None)
        b, _, n, _ = q.shape
        return out.transpose(1, 2).reshape(b, n, self.num_heads * self.head_dim)


class FFN(nn.Module):
    def __init__(self, width: int, hidden: int) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(width, hidden), nn.Linear(hidden, width)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


class AdaLNBlock(nn.Module):
    """``x += γ1·Attn(LN(x)(1+s1)+b1)``; ``x += γ2·FFN(LN(x)(1+s2)+b2)``, modulation from the class embedding."""

    def __init__(self, width: int, num_heads: int, mlp_ratio: float, drop_path: float, l2_norm: bool, eps: float) -> None:
        super().__init__()
        self.width = width
        self.attn = SelfAttention(width, num_heads, l2_norm)
        self.ffn = FFN(width, round(width * mlp_ratio))
        self.norm = nn.LayerNorm(width, eps=eps, elementwise_affine=False)
        self.ada_lin = nn.Sequential(nn.SiLU(), nn.Linear(width, 6 * width))
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.compiled = False  # inference through compiled_block_ops (VARGenerator.compile_small_ops)

    def forward(self, x: Tensor, cond: Tensor, cos: Tensor, sin: Tensor, level_ends: Optional[Sequence[int]],
                last: Optional[int] = None) -> Tensor:
        """``last``: return only the last ``last`` tokens (the others still enter the KV cache)."""
        gamma1, gamma2, scale1, scale2, shift1, shift2 = self.ada_lin(cond).view(-1, 1, 6, self.width).unbind(2)
        attn, ffn, eps = self.attn, self.ffn, self.norm.eps
        inputs, output = attention_inputs, block_output
        if self.compiled and not torch.is_grad_enabled():
            inputs, output = compiled_block_ops()
        q, k, v = inputs(x, scale1, shift1, attn.mat_qkv.weight, attn.q_bias, attn.v_bias,
                         attn.scale_mul if attn.l2_norm else None, cos, sin, attn.num_heads, eps,
                         attn.max_scale_mul if attn.l2_norm else 0.0, last)
        drop = self.drop_path if isinstance(self.drop_path, DropPath) and self.training else None
        return output(x, attn(q, k, v, level_ends), gamma1, scale2, shift2, gamma2, attn.proj.weight, attn.proj.bias,
                      ffn.fc1.weight, ffn.fc1.bias, ffn.fc2.weight, ffn.fc2.bias, eps, drop)


class AdaLNHead(nn.Module):
    """Modulated LayerNorm before the classifier: ``LN(x)(1+scale)+shift``."""

    def __init__(self, width: int, eps: float) -> None:
        super().__init__()
        self.width = width
        self.norm = nn.LayerNorm(width, eps=eps, elementwise_affine=False)
        self.ada_lin = nn.Sequential(nn.SiLU(), nn.Linear(width, 2 * width))

    def forward(self, x: Tensor, cond: Tensor) -> Tensor:
        scale, shift = self.ada_lin(cond).view(-1, 1, 2, self.width).unbind(2)
        return torch.addcmul(shift, self.norm(x), scale + 1)
