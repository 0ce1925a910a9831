"""TOC loss: the eager reference against the official golden numbers, the fused kernel against the reference."""
from __future__ import annotations

import os

import pytest
import torch
import torch.nn.functional as F

from realiisr.ops import extension_state, toc_loss, use_backend
from realiisr.ops.reference import toc_loss_reference

fused_only = pytest.mark.skipif(
    not extension_state().loaded, reason=f"fused ops unavailable: {extension_state().reason}"
)
# CUDA cases are listed everywhere and skipped with a reason where no GPU exists (CI never has one)
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"))]


def patchy(shape, patch=8, dtype=torch.float64, device="cpu", seed=0):
    """Images whose patch means differ clearly, so samples stay away from the ReLU kink and the τ step."""
    g = torch.Generator().manual_seed(seed)
    b, c, h, w = shape
    levels = torch.randint(0, 6, (b, 1, -(-h // patch), -(-w // patch)), generator=g).to(dtype) / 5
    img = F.interpolate(levels, scale_factor=patch, mode="nearest")[..., :h, :w].expand(b, c, h, w)
    noise = 0.01 * torch.randn(b, c, h, w, generator=g, dtype=dtype)
    return (img + noise).contiguous().to(device)


def fused(sr, hr, **kw):
    with use_backend("fused"):
        return toc_loss(sr, hr, **kw)


# ----------------------------------------------------------------------------- reference vs the official code
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_reference_matches_official_golden_cases(golden, reduction):
    for case in golden["components"]["toc_cases"]:
        got = toc_loss_reference(case["sr"], case["tar"], reduction=reduction)
        torch.testing.assert_close(got, case[f"loss_{reduction}"], rtol=1e-5, atol=1e-7, msg=f"case {case['shape']}")


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_default_dispatch_matches_official_golden_cases(golden, reduction):
    for case in golden["components"]["toc_cases"]:
        got = toc_loss(case["sr"], case["tar"], reduction=reduction)
        torch.testing.assert_close(got, case[f"loss_{reduction}"], rtol=1e-5, atol=1e-6, msg=f"case {case['shape']}")


def test_golden_cases_exercise_the_loss(golden):
    values = [float(c["loss_mean"]) for c in golden["components"]["toc_cases"]]
    assert all(v > 0 for v in values)  # a test that compared zeros could not fail


# ----------------------------------------------------------------------------- fused vs reference
SHAPES = [
    ((2, 3, 64, 64), 8),
    ((1, 1, 8, 8), 8),  # a single patch: no neighbours
    ((3, 3, 42, 45), 8),  # trailing rows/columns dropped
    ((2, 2, 17, 64), 4),
    ((1, 1, 9, 11), 1),
    ((2, 1, 30, 20), 3),
]


@fused_only
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape, patch", SHAPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_fused_forward_and_gradient_match_reference(device, dtype, shape, patch, reduction):
    sr = patchy(shape, patch, dtype, device, seed=1).requires_grad_()
    hr = patchy(shape, patch, dtype, device, seed=2)
    want = toc_loss_reference(sr, hr, patch, 0.1, reduction)
    got = fused(sr, hr, patch_size=patch, reduction=reduction)
    tol = {"rtol": 1e-5, "atol": 1e-6} if dtype == torch.float32 else {"rtol": 1e-12, "atol": 1e-12}
    torch.testing.assert_close(got, want, **tol)
    grad_out = torch.rand_like(want)
    (g_want,) = torch.autograd.grad(want, sr, grad_out)
    (g_got,) = torch.autograd.grad(got, sr, grad_out)
    torch.testing.assert_close(g_got, g_want, **tol)
    if shape[2] >= 2 * patch and shape[3] >= 2 * patch:
        assert g_want.abs().sum() > 0  # the comparison covers active terms


@fused_only
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_fused_low_precision_error_at_most_twice_eager(device, dtype):
    shape = (2, 3, 64, 48)
    sr32 = patchy(shape, dtype=torch.float32, device=device, seed=3).requires_grad_()
    hr32 = patchy(shape, dtype=torch.float32, device=device, seed=4)
    ref = toc_loss_reference(sr32, hr32, reduction="none")
    (g_ref,) = torch.autograd.grad(ref.sum(), sr32)
    sr = sr32.detach().to(dtype).requires_grad_()
    hr = hr32.to(dtype)
    eager = toc_loss_reference(sr, hr, reduction="none")
    (g_eager,) = torch.autograd.grad(eager.sum(), sr)
    got = fused(sr, hr, reduction="none")
    (g_got,) = torch.autograd.grad(got.sum(), sr)
    assert got.dtype == dtype and g_got.dtype == dtype
    for mine, theirs, exact in ((got, eager, ref), (g_got, g_eager, g_ref)):
        err_mine = (mine.float() - exact).abs().max().item()
        err_eager = (theirs.float() - exact).abs().max().item()
        assert err_mine <= 2 * err_eager + 1e-6, (err_mine, err_eager)


@pytest.mark.parametrize("backend", ["eager", pytest.param("fused", marks=fused_only)])
def test_gradcheck_float64(backend):
    sr = patchy((2, 2, 24, 32), 8, seed=5).requires_grad_()
    hr = patchy((2, 2, 24, 32), 8, seed=6)

    def fn(x):
        with use_backend(backend):
            return toc_loss(x, hr, reduction="none")

    assert torch.autograd.gradcheck(fn, (sr,), eps=1e-6, atol=1e-6)


@fused_only
@pytest.mark.parametrize("device", DEVICES)
def test_opcheck(device):
    sr = patchy((2, 3, 24, 17), 8, torch.float32, device, seed=7).requires_grad_()
    hr = patchy((2, 3, 24, 17), 8, torch.float32, device, seed=8)
    torch.library.opcheck(torch.ops.realiisr.toc_loss_forward.default, (sr, hr, 8, 0.1))
    _, s_pool, t_pool = torch.ops.realiisr.toc_loss_forward(sr.detach(), hr, 8, 0.1)
    grad_map = torch.rand(2, 1, 3, 2, device=device)
    torch.library.opcheck(
        torch.ops.realiisr.toc_loss_backward.default, (grad_map, s_pool, t_pool, 8, 0.1, [2, 3, 24, 17])
    )


@fused_only
def test_torch_compile_fullgraph():
    sr = patchy((2, 3, 32, 32), seed=9, dtype=torch.float32).requires_grad_()
    hr = patchy((2, 3, 32, 32), seed=10, dtype=torch.float32)

    def loss_fn(a, b):
        return torch.ops.realiisr.toc_loss_forward(a, b, 8, 0.1)[0].sum()

    compiled = torch.compile(loss_fn, fullgraph=True, backend="aot_eager")
    torch.testing.assert_close(compiled(sr, hr), loss_fn(sr, hr))
    (g_compiled,) = torch.autograd.grad(compiled(sr, hr), sr)
    (g_eager,) = torch.autograd.grad(loss_fn(sr, hr), sr)
    torch.testing.assert_close(g_compiled, g_eager)


@fused_only
def test_fused_is_deterministic_and_target_gets_no_gradient():
    sr = patchy((2, 3, 64, 64), seed=11, dtype=torch.float32).requires_grad_()
    hr = patchy((2, 3, 64, 64), seed=12, dtype=torch.float32).requires_grad_()
    first = torch.autograd.grad(fused(sr, hr), sr)[0]
    second = torch.autograd.grad(fused(sr, hr), sr)[0]
    assert torch.equal(first, second)
    fused(sr, hr).backward()
    assert hr.grad is None


def test_non_contiguous_inputs():
    sr = patchy((2, 3, 64, 64), seed=13, dtype=torch.float32).transpose(2, 3)
    hr = patchy((2, 3, 64, 64), seed=14, dtype=torch.float32).transpose(2, 3)
    torch.testing.assert_close(toc_loss(sr, hr), toc_loss_reference(sr.contiguous(), hr.contiguous()))


# ----------------------------------------------------------------------------- bad input, fallback
BAD = [
    (lambda: (torch.rand(3, 16, 16), torch.rand(3, 16, 16)), ValueError, r"\[B, C, H, W\]"),
    (lambda: (torch.rand(1, 1, 16, 16), torch.rand(1, 1, 16, 17)), ValueError, "of one shape"),
    (lambda: (torch.rand(1, 1, 16, 16), torch.rand(1, 1, 16, 16).double()), TypeError, "floating dtype"),
    (lambda: (torch.ones(1, 1, 16, 16, dtype=torch.int32),) * 2, TypeError, "floating dtype"),
    (lambda: (torch.rand(1, 1, 4, 16), torch.rand(1, 1, 4, 16)), ValueError, "no complete 8x8 patch"),
    (lambda: (torch.rand(0, 1, 16, 16), torch.rand(0, 1, 16, 16)), ValueError, "no complete"),
]


@pytest.mark.parametrize("backend", ["eager", pytest.param("fused", marks=fused_only)])
@pytest.mark.parametrize("make, error, match", BAD)
def test_bad_input_raises_clear_error(backend, make, error, match):
    with use_backend(backend), pytest.raises(error, match=match):
        toc_loss(*make())


def test_bad_arguments():
    x = torch.rand(1, 1, 16, 16)
    with pytest.raises(ValueError, match="reduction must be one of"):
        toc_loss(x, x, reduction="avg")
    with pytest.raises(ValueError, match="patch_size must be a positive int"):
        toc_loss(x, x, patch_size=0)


@fused_only
def test_raw_op_checks_never_crash():
    x = torch.rand(1, 1, 16, 16)
    with pytest.raises(RuntimeError, match="sr must have 4 dimensions"):
        torch.ops.realiisr.toc_loss_forward(x[0], x[0], 8, 0.1)
    with pytest.raises(RuntimeError, match="smaller than one 32x32 patch"):
        torch.ops.realiisr.toc_loss_forward(x, x, 32, 0.1)
    with pytest.raises(RuntimeError, match="do not fit input_shape"):
        torch.ops.realiisr.toc_loss_backward(torch.rand(1, 1, 2, 2), torch.rand(1, 3, 3), torch.rand(1, 3, 3), 8, 0.1, [1, 1, 16, 16])


def test_eager_backend_gives_same_numbers(golden):
    case = golden["components"]["toc_cases"][0]
    with use_backend("eager"):
        eager = toc_loss(case["sr"], case["tar"])
    torch.testing.assert_close(eager, toc_loss(case["sr"], case["tar"]), rtol=1e-6, atol=1e-6)


def test_forcing_fused_without_extension_is_an_error(monkeypatch):
    if extension_state().loaded:
        pytest.skip("the extension is loaded; this checks the pure-Python install")
    with use_backend("fused"), pytest.raises(RuntimeError, match="cannot use a fused kernel"):
        toc_loss(torch.rand(1, 1, 16, 16), torch.rand(1, 1, 16, 16))


def test_extension_state_matches_the_install():
    """`make test` sets REALIISR_EXPECT_NO_EXTENSION=0 (a broken build must fail it); the pure-Python CI run sets 1."""
    expected = os.environ.get("REALIISR_EXPECT_NO_EXTENSION")
    if expected not in ("0", "1"):
        pytest.skip("REALIISR_EXPECT_NO_EXTENSION is not set")
    assert extension_state().loaded is (expected == "0"), extension_state().reason
