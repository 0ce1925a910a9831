"""The small ops of a VAR block as two pure functions, eager or compiled.

Between its matrix products a block runs ~20 elementwise ops per token (LayerNorm and modulation, q/k L2
norm and scale, RoPE, bias, GELU, residuals). :func:`attention_inputs` (up to q, k, v) and
:func:`block_output` (from the attention output on) take every weight as an argument, so one compiled copy
serves every block of every generator: ``torch.compile`` fuses the elementwise ops around the matrix
products, which stay library calls. The KV cache and the attention itself stay eager between the two.

:func:`compiled_block_ops` compiles them once per process (dynamic shapes: one compilation for every scale
and batch); the VAR generator uses them for inference when asked (``compile_small_ops``).
"""
from __future__ import annotations

import functools
from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["apply_rope", "attention_inputs", "block_output", "compiled_block_ops"]


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate adjacent pairs of the last dim of ``x [B, H, L, D]`` by angles with tables ``[L, D/2]`` (float32 math).

    As the reference does, each pair is a complex number multiplied by ``cos + i·sin``: one kernel, where
    the same rotation written with real tensors took seven (12x slower on a CPU at the first scale's shape).
    """
    pairs = torch.view_as_complex(x.float().unflatten(-1, (-1, 2)).contiguous())
    return torch.view_as_real(pairs * torch.complex(cos.float(), sin.float())).flatten(-2).type_as(x)


def _apply_rope_real(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """The same rotation with real tensors (what the compiler fuses; it does not take complex numbers)."""
    pairs = x.float().unflatten(-1, (-1, 2))
    a, b = pairs[..., 0], pairs[..., 1]
    return torch.stack((a * cos - b * sin, a * sin + b * cos), dim=-1).flatten(-2).type_as(x)


def attention_inputs(x: Tensor, scale: Tensor, shift: Tensor, w_qkv: Tensor, q_bias: Tensor, v_bias: Tensor,
                     scale_mul: Optional[Tensor], cos: Tensor, sin: Tensor, num_heads: int, eps: float,
                     max_scale_mul: float, last: Optional[int] = None, complex_rope: bool = True
                     ) -> tuple[Tensor, Tensor, Tensor]:
    """``LN(x)(1+scale)+shift`` → q, k, v ``[B, H, n, D]``: q/v biases, L2-normalised q (times the clamped
    per-head scale ``exp(scale_mul)``) and k where ``scale_mul`` is given, RoPE on both. ``last``: q of the
    last ``last`` tokens only."""
    b, n, c = x.shape
    h = torch.addcmul(shift, F.layer_norm(x, (c,), eps=eps), scale + 1)
    bias = torch.cat((q_bias, torch.zeros_like(q_bias), v_bias))
    q, k, v = F.linear(h, w_qkv, bias).view(b, n, 3, num_heads, c // num_heads).permute(2, 0, 3, 1, 4)
    q_cos, q_sin = cos, sin
    if last is not None:
        q, q_cos, q_sin = q[:, :, -last:], cos[-last:], sin[-last:]
    if scale_mul is not None:
        q = F.normalize(q, dim=-1) * scale_mul.clamp_max(max_scale_mul).exp()
        k = F.normalize(k, dim=-1)
    rope = apply_rope if complex_rope else _apply_rope_real
    return rope(q, q_cos, q_sin), rope(k, cos, sin), v


def block_output(x: Tensor, attended: Tensor, gamma1: Tensor, scale2: Tensor, shift2: Tensor, gamma2: Tensor,
                 w_proj: Tensor, b_proj: Tensor, w_fc1: Tensor, b_fc1: Tensor, w_fc2: Tensor, b_fc2: Tensor,
                 eps: float, drop_path: Optional[Callable[[Tensor], Tensor]] = None) -> Tensor:
    """``x + γ1·proj(attended)``, then ``+ γ2·FFN(LN(·)(1+scale2)+shift2)``; ``attended`` is ``[B, n, C]``
    (heads merged) for the last ``n`` tokens of ``x``. ``drop_path``: stochastic depth on both branches
    (training); without it each residual is one ``addcmul`` (one pass, rounded once)."""
    x = x[:, -attended.shape[1]:]

    def residual(base: Tensor, branch: Tensor, gamma: Tensor) -> Tensor:
        return base + drop_path(branch * gamma) if drop_path is not None else torch.addcmul(base, branch, gamma)

    x = residual(x, F.linear(attended, w_proj, b_proj), gamma1)
    h = torch.addcmul(shift2, F.layer_norm(x, (x.shape[-1],), eps=eps), scale2 + 1)
    return residual(x, F.linear(F.gelu(F.linear(h, w_fc1, b_fc1), approximate="tanh"), w_fc2, b_fc2), gamma2)


@functools.lru_cache(maxsize=None)
def compiled_block_ops() -> tuple[Callable[..., tuple[Tensor, Tensor, Tensor]], Callable[..., Tensor]]:
    """``(attention_inputs, block_output)`` compiled once per process, for inference (no autograd graph)."""

    def real_rope_inputs(*args: object) -> tuple[Tensor, Tensor, Tensor]:
        return attention_inputs(*args, complex_rope=False)  # type: ignore[arg-type]

    inputs = torch.compile(real_rope_inputs, dynamic=True, fullgraph=True)
    return inputs, torch.compile(block_output, dynamic=True, fullgraph=True)
