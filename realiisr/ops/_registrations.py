"""Fake (meta) kernels for the C++-defined ops, and the TOC loss's autograd (the CAC ops' autograd is C++:
csrc/ops/cac_autograd.cpp); imported only once realiisr._C has loaded."""
from __future__ import annotations

import torch

_OPMATH = {torch.float64: torch.float64}


@torch.library.register_fake("realiisr::toc_loss_forward")
def _toc_loss_forward_fake(sr, hr, patch_size, threshold):
    batch, _, height, width = sr.shape
    rows, cols = height // patch_size, width // patch_size
    acc = _OPMATH.get(sr.dtype, torch.float32)
    return (
        sr.new_empty((batch, 1, rows, cols)),
        sr.new_empty((batch, rows, cols), dtype=acc),
        sr.new_empty((batch, rows, cols), dtype=acc),
    )


@torch.library.register_fake("realiisr::toc_loss_backward")
def _toc_loss_backward_fake(grad_map, s_pool, t_pool, patch_size, threshold, input_shape):
    return grad_map.new_empty(input_shape)


def _toc_setup_context(ctx, inputs, output):
    sr, _, patch_size, threshold = inputs
    ctx.save_for_backward(output[1], output[2])
    ctx.patch_size, ctx.threshold, ctx.input_shape = patch_size, threshold, list(sr.shape)


def _toc_backward(ctx, grad_map, _grad_s_pool, _grad_t_pool):
    if not ctx.needs_input_grad[0]:
        return None, None, None, None
    s_pool, t_pool = ctx.saved_tensors
    grad_sr = torch.ops.realiisr.toc_loss_backward(
        grad_map, s_pool, t_pool, ctx.patch_size, ctx.threshold, ctx.input_shape
    )
    # The target is a constant of the loss (the reference detaches it).
    return grad_sr, None, None, None


torch.library.register_autograd(
    "realiisr::toc_loss_forward", _toc_backward, setup_context=_toc_setup_context
)


@torch.library.register_fake("realiisr::cac_embedding")
def _cac_embedding_fake(idx, codebook, U, V, h, gate):
    return codebook.new_empty((idx.shape[0], idx.shape[1], codebook.shape[1]))


@torch.library.register_fake("realiisr::cac_embedding_backward")
def _cac_embedding_backward_fake(grad, idx, codebook, U, V, h, gate):
    return (torch.empty_like(codebook), torch.empty_like(U), torch.empty_like(V), torch.empty_like(h),
            torch.empty_like(gate))


@torch.library.register_fake("realiisr::cac_codebook")
def _cac_codebook_fake(codebook, U, V, h, gate):
    return codebook.new_empty((h.shape[0], codebook.shape[0], codebook.shape[1]))


@torch.library.register_fake("realiisr::cac_codebook_backward")
def _cac_codebook_backward_fake(grad, codebook, U, V, h, gate):
    return (torch.empty_like(codebook), torch.empty_like(U), torch.empty_like(V), torch.empty_like(h),
            torch.empty_like(gate))


@torch.library.register_fake("realiisr::group_norm_silu")
def _group_norm_silu_fake(x, num_groups, weight, bias, eps):
    return torch.empty_like(x)


@torch.library.register_fake("realiisr::group_norm_silu_")
def _group_norm_silu_inplace_fake(x, num_groups, weight, bias, eps):
    return None
