"""Fused GroupNorm + SiLU (inference) against the eager reference; the decoder's use of it and of the
phase-decomposed upsampling convolution."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from realiisr.layers import add_residual, norm_silu
from realiisr.ops import choose_backend, extension_state, group_norm_silu, use_backend
from realiisr.ops.reference import group_norm_silu_reference
from realiisr.tokenizers.vae_blocks import Upsample2x

fused_only = pytest.mark.skipif(
    not extension_state().loaded, reason=f"fused ops unavailable: {extension_state().reason}"
)


def activations(shape, dtype=torch.float32, layout="contiguous", seed=0, mean=0.0):
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(shape, generator=g, dtype=torch.float64) * 2 + mean).to(dtype)
    if layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    elif layout == "strided":  # every other column of a wider tensor: neither layout
        wide = torch.cat([x, x], dim=-1)
        x = wide[..., ::2]
        assert not x.is_contiguous() and not x.is_contiguous(memory_format=torch.channels_last)
    return x


def affine(channels, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(channels, generator=g) * 0.5 + 1, torch.randn(channels, generator=g) * 0.3


def fused(x, groups, w, b, eps=1e-6, **kw):
    with use_backend("fused"), torch.no_grad():
        return group_norm_silu(x, groups, w, b, eps, **kw)


CASES = [  # shape, groups
    ((2, 64, 17, 13), 32),
    ((1, 32, 2, 1), 32),  # two values per group
    ((3, 12, 5, 7), 1),
    ((2, 16, 9, 4), 16),
    ((4, 32, 40), 8),  # [N, C, L]
    ((5, 8), 2),  # [N, C]
]


@fused_only
@pytest.mark.parametrize("layout", ["contiguous", "channels_last", "strided"])
@pytest.mark.parametrize("shape,groups", CASES)
def test_fused_matches_reference_float64_and_float32(shape, groups, layout):
    if layout != "contiguous" and len(shape) != 4:
        pytest.skip("layouts of 4-D tensors only")
    w, b = affine(shape[1])
    x64 = activations(shape, torch.float64, layout)
    expected = group_norm_silu_reference(x64, groups, w.double(), b.double(), 1e-6)
    torch.testing.assert_close(fused(x64, groups, w.double(), b.double()), expected, rtol=1e-12, atol=1e-12)
    x32 = activations(shape, torch.float32, layout)
    out = fused(x32, groups, w, b)
    assert out.dtype == torch.float32 and out.shape == x32.shape
    torch.testing.assert_close(out.double(), expected, rtol=1e-5, atol=2e-6)


@fused_only
@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_error_at_most_twice_eager(dtype, layout):
    w, b = affine(64)
    x = activations((3, 64, 16, 12), dtype, layout, seed=3)
    exact = group_norm_silu_reference(x.double(), 32, w.double(), b.double(), 1e-6)
    eager = F.silu(F.group_norm(x, 32, w.to(dtype), b.to(dtype), 1e-6))
    out = fused(x, 32, w, b)
    assert out.dtype == dtype
    assert (out.double() - exact).abs().max() <= 2 * (eager.double() - exact).abs().max()


@fused_only
def test_large_mean_keeps_the_variance():
    """Activations far from zero (mean 3000, std 2): the shifted sums must not cancel the variance away. Eager
    float32 loses ~1e-4 here too (x * scale + shift rounds at the magnitude of the mean)."""
    w, b = affine(32)
    for layout in ("contiguous", "channels_last"):
        x = activations((2, 32, 24, 24), torch.float32, layout, seed=4, mean=3000.0)
        expected = group_norm_silu_reference(x.double(), 8, w.double(), b.double(), 1e-6)
        eager_error = (group_norm_silu_reference(x, 8, w, b, 1e-6).double() - expected).abs().max()
        assert (fused(x, 8, w, b).double() - expected).abs().max() <= max(2 * eager_error, 1e-5)


@fused_only
def test_without_affine_parameters_and_extreme_values():
    x = activations((2, 8, 6, 6), torch.float32)
    x[0, :4] *= 1e4  # large normalised values: silu(v) = v, silu(-v) = 0 without overflow
    torch.testing.assert_close(fused(x, 2, None, None), group_norm_silu_reference(x, 2, None, None, 1e-6),
                               rtol=1e-5, atol=1e-6)
    x[1, 0, 0, 0] = float("nan")
    out = fused(x, 2, None, None)
    assert out[1, :4].isnan().all() and not out[1, 4:].isnan().any() and not out[0].isnan().any()


@fused_only
@pytest.mark.parametrize("layout", ["contiguous", "channels_last", "strided"])
def test_overwrite_input_writes_the_result_into_x(layout):
    w, b = affine(16)
    x = activations((2, 16, 8, 6), torch.float32, layout)
    expected = fused(x.clone(), 4, w, b)
    out = fused(x, 4, w, b, overwrite_input=True)
    assert out.data_ptr() == x.data_ptr()
    torch.testing.assert_close(x, expected)


@fused_only
def test_opcheck_and_compile():
    w, b = affine(16)
    x = activations((2, 16, 8, 6), torch.float32, "channels_last")
    torch.library.opcheck(torch.ops.realiisr.group_norm_silu.default, (x, 4, w, b, 1e-6))
    torch.library.opcheck(torch.ops.realiisr.group_norm_silu_.default, (x.clone(), 4, w, b, 1e-6))

    def fn(t):
        return torch.ops.realiisr.group_norm_silu(t, 4, w, b, 1e-6) * 2

    compiled = torch.compile(fn, fullgraph=True, backend="aot_eager")
    torch.testing.assert_close(compiled(x), fn(x))


def test_gradients_flow_through_the_eager_path():
    """No backward kernel exists: with a gradient to compute, auto dispatch must choose eager (and say so)."""
    assert choose_backend("group_norm_silu", torch.device("cpu"), with_grad=True)[0] == "eager"
    w, b = (p.requires_grad_() for p in affine(16))
    x = activations((2, 16, 5, 5), torch.float64).requires_grad_()
    out = group_norm_silu(x, 4, w.double(), b.double(), 1e-6, overwrite_input=True)
    assert out.grad_fn is not None
    torch.testing.assert_close(out, group_norm_silu_reference(x, 4, w.double(), b.double(), 1e-6))
    assert torch.autograd.gradcheck(lambda t: group_norm_silu(t, 4, None, None, 1e-6), (x,))


@pytest.mark.parametrize(
    "args,message",
    [
        (((2, 6, 4, 4), 4), "must divide the 6 channels"),
        (((2,), 1), "floating [N, C, *]"),
    ],
)
def test_bad_arguments_name_the_problem(args, message):
    shape, groups = args
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("*", r"\*")):
        group_norm_silu(torch.randn(shape), groups)
    with pytest.raises(ValueError, match="weight must be"):
        group_norm_silu(torch.randn(2, 8, 3, 3), 4, torch.ones(4))


@fused_only
def test_kernel_rejects_what_the_wrapper_would():
    with pytest.raises(RuntimeError, match="num_groups=5 must be positive and divide the 16 channels"):
        torch.ops.realiisr.group_norm_silu(torch.randn(2, 16, 3, 3), 5, None, None, 1e-6)
    with pytest.raises(RuntimeError, match=r"bias must have shape \[16\]"):
        torch.ops.realiisr.group_norm_silu_(torch.randn(2, 16, 3, 3), 4, None, torch.ones(8), 1e-6)
    with pytest.raises(RuntimeError, match="x must be a floating-point tensor"):
        torch.ops.realiisr.group_norm_silu(torch.ones(2, 16, 3, 3, dtype=torch.int64), 4, None, None, 1e-6)


# ----------------------------------------------------------------------------- the decoder's uses
def test_norm_silu_and_add_residual_match_the_plain_layers():
    norm = torch.nn.GroupNorm(4, 16, eps=1e-6)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
        norm.bias.uniform_(-0.3, 0.3)
    x = activations((2, 16, 7, 7), torch.float32, "channels_last")
    with torch.no_grad():
        expected = F.silu(norm(x))
        torch.testing.assert_close(norm_silu(norm, x.clone(), fresh=True), expected, rtol=1e-5, atol=2e-6)
        h, shortcut = torch.randn(2, 16, 7, 7), torch.randn(2, 16, 7, 7)
        out = add_residual(shortcut, h)
        assert out.data_ptr() == h.data_ptr()  # written into the fresh branch output
    # promotion or a gradient: out of place, exactly the plain sum
    half = torch.randn(2, 16, 7, 7).bfloat16()
    assert add_residual(shortcut, half).dtype == torch.float32
    h = torch.randn(2, 16, 7, 7, requires_grad=True)
    summed = add_residual(shortcut, h)
    assert summed.data_ptr() != h.data_ptr() and summed.grad_fn is not None


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_upsample_phases_equal_nearest_upsampling_then_conv(layout):
    torch.manual_seed(0)
    up = Upsample2x(24).double()
    x = activations((2, 24, 9, 6), torch.float64, layout)
    expected = up.conv(F.interpolate(x, scale_factor=2, mode="nearest"))
    with torch.no_grad():
        out = up(x)
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)
    assert out.is_contiguous(memory_format=torch.channels_last) == (layout == "channels_last")
    with torch.no_grad():  # a changed weight is seen (the phase weights are cached per weight version)
        up.conv.weight.mul_(2)
        torch.testing.assert_close(up(x), up.conv(F.interpolate(x, scale_factor=2, mode="nearest")))
    # with a gradient to compute it keeps the upsampled form
    x.requires_grad_()
    out = up(x)
    torch.testing.assert_close(out, up.conv(F.interpolate(x, scale_factor=2, mode="nearest")))
    assert out.grad_fn is not None
