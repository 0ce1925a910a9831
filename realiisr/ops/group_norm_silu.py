"""GroupNorm followed by SiLU: a fused CPU kernel for inference, the eager reference otherwise."""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from realiisr.ops._dispatch import choose_backend, grad_will_flow
from realiisr.ops.reference import group_norm_silu_reference

__all__ = ["group_norm_silu"]


def _check(x: Tensor, num_groups: int, weight: Optional[Tensor], bias: Optional[Tensor]) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"group_norm_silu: x must be a tensor, got {type(x).__name__}")
    if x.dim() < 2 or not x.is_floating_point():
        raise ValueError(f"group_norm_silu: x must be a floating [N, C, *] tensor, got {x.dtype} {tuple(x.shape)}")
    if not isinstance(num_groups, int) or num_groups < 1 or x.shape[1] % num_groups:
        raise ValueError(f"group_norm_silu: num_groups={num_groups!r} must divide the {x.shape[1]} channels of x")
    for name, param in (("weight", weight), ("bias", bias)):
        if param is not None and (param.shape != (x.shape[1],) or param.device != x.device):
            raise ValueError(
                f"group_norm_silu: {name} must be [{x.shape[1]}] on {x.device}, got {tuple(param.shape)} on "
                f"{param.device}"
            )


def group_norm_silu(
    x: Tensor, num_groups: int, weight: Optional[Tensor] = None, bias: Optional[Tensor] = None,
    eps: float = 1e-5, *, overwrite_input: bool = False,
) -> Tensor:
    """``silu(group_norm(x, num_groups, weight, bias, eps))``.

    The fused CPU kernel reads ``x`` once for the statistics and once more to write the result; it has no
    backward, so whenever a gradient will flow this runs the eager reference instead.

    Args:
        x: ``[N, C, *]``; NCHW-contiguous and channels-last inputs are read in place, others are copied once.
        overwrite_input: allow the result to be written into ``x`` (as SciPy's ``overwrite_a``): set it when
            ``x`` is a fresh activation nobody reads again, so no new tensor is allocated. ``x`` is then
            undefined afterwards; the eager path leaves it untouched.
    """
    _check(x, num_groups, weight, bias)
    with_grad = grad_will_flow(x, weight, bias)
    backend, _ = choose_backend("group_norm_silu", x.device, with_grad=with_grad)
    if backend == "fused":
        if overwrite_input:
            torch.ops.realiisr.group_norm_silu_(x, num_groups, weight, bias, float(eps))
            return x
        return torch.ops.realiisr.group_norm_silu(x, num_groups, weight, bias, float(eps))
    if with_grad:
        return group_norm_silu_reference(x, num_groups, weight, bias, eps)
    # The normalised tensor is new, so SiLU can run in place on it: one pass less (the reference's result).
    return F.silu(F.group_norm(x, num_groups, weight, bias, eps), inplace=True)
