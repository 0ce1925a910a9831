"""Multi-scale block-causal attention: the fused level-by-level op against the masked-SDPA reference."""
from __future__ import annotations

import pytest
import torch

from realiisr.ops import extension_state, scale_attention, use_backend
from realiisr.ops.reference import scale_attention_reference

fused_only = pytest.mark.skipif(not extension_state().loaded, reason=f"fused ops unavailable: {extension_state().reason}")
# CUDA cases are listed everywhere and skipped with a reason where no GPU exists (CI never has one)
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"))]

# (level ends in the key sequence, number of queries): a full training sequence, a KV-cache step (the
# newest level only), one key, a query count that starts inside a level, levels of one token.
CASES = [([4, 5, 9, 18, 34], 34), ([4, 5, 9, 18, 34], 16), ([1], 1), ([6, 10, 19], 12), ([1, 2, 3], 3)]


def qkv(ends, lq, batch=2, heads=3, dim=8, dtype=torch.float64, device="cpu", seed=0):
    g = torch.Generator().manual_seed(seed)
    make = lambda n: torch.randn(batch, heads, n, dim, generator=g, dtype=torch.float64).to(dtype=dtype, device=device)  # noqa: E731
    return make(lq), make(ends[-1]), make(ends[-1])


def test_reference_mask_is_block_causal():
    q, k, v = qkv([2, 5], 5, batch=1, heads=1)
    k.requires_grad_()
    out = scale_attention_reference(q, k, v, [2, 5])
    (grad,) = torch.autograd.grad(out[0, 0, 1].sum(), k)  # a query of level 0 sees keys 0..1 only
    assert grad[0, 0, :2].abs().sum() > 0 and grad[0, 0, 2:].abs().sum() == 0


@fused_only
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("ends, lq", CASES)
@pytest.mark.parametrize("scale", [None, 1.0])
def test_fused_forward_and_gradients_match_reference(device, dtype, ends, lq, scale):
    """float64: tight; float32: the fused error against a float64 truth at most twice the eager one."""
    exact = [t.requires_grad_() for t in qkv(ends, lq, device=device)]
    inputs = [t.detach().to(dtype).requires_grad_() for t in exact]
    mask_ends = None if ends == [ends[-1]] else ends
    grad = torch.randn(exact[0].shape, dtype=torch.float64, device=device)

    def run(fn, tensors):
        out = fn(*tensors, mask_ends, scale)
        return [out, *torch.autograd.grad(out, tensors, grad.to(out.dtype))]

    truth = run(scale_attention_reference, exact)
    eager = run(scale_attention_reference, inputs)
    with use_backend("fused"):
        fused = run(scale_attention, inputs)
    for name, t, e, f in zip(["out", "dq", "dk", "dv"], truth, eager, fused):
        assert f.dtype == dtype, name
        if dtype == torch.float64:
            torch.testing.assert_close(f, t, atol=1e-12, rtol=1e-10, msg=name)
        else:
            error, baseline = (f.double() - t).abs().max(), (e.double() - t).abs().max()
            assert error <= 2 * baseline + 1e-6, (name, float(error), float(baseline))


@fused_only
def test_gradcheck_opcheck_and_compile():
    ends = [3, 4, 8, 12]
    q, k, v = (t.requires_grad_() for t in qkv(ends, 9, batch=1, heads=2, dim=4))
    op = torch.ops.realiisr.scale_attention
    assert torch.autograd.gradcheck(lambda a, b, c: op(a, b, c, ends, 0.7), (q, k, v))
    floats = [t.float().detach().requires_grad_() for t in (q, k, v)]
    torch.library.opcheck(op.default, (*floats, ends, 0.7))
    compiled = torch.compile(lambda a, b, c: op(a, b, c, ends, 0.7).sum(), fullgraph=True, backend="aot_eager")
    torch.testing.assert_close(compiled(*floats), scale_attention_reference(*floats, ends, 0.7).sum(), atol=1e-4, rtol=1e-5)


@fused_only
def test_bf16_error_at_most_twice_eager():
    ends = [16, 17, 21, 30, 46, 82, 146]
    exact = qkv(ends, 146, batch=2, heads=2, dim=32, dtype=torch.float32)
    ref = scale_attention_reference(*exact, ends)
    low = [t.bfloat16() for t in exact]
    with use_backend("fused"):
        fused = scale_attention(*low, ends)
    eager = scale_attention_reference(*low, ends)
    assert fused.dtype == torch.bfloat16
    assert (fused.float() - ref).abs().max() <= 2 * (eager.float() - ref).abs().max() + 1e-6


@pytest.mark.parametrize("backend", ["eager", pytest.param("fused", marks=fused_only)])
def test_bad_input_is_a_clear_error(backend):
    q, k, v = qkv([3, 6], 6, dtype=torch.float32)
    with use_backend(backend):
        with pytest.raises(ValueError, match=r"level_ends \[3, 5\] must increase strictly and end at Lk=6"):
            scale_attention(q, k, v, [3, 5])
        with pytest.raises(ValueError, match="expected q"):
            scale_attention(q, k[..., :4], v, [3, 6])
        with pytest.raises(ValueError, match="7 queries but only 6 keys"):
            scale_attention(torch.cat([q, q[:, :, :1]], 2), k, v, [3, 6])


@fused_only
def test_raw_op_checks_its_arguments():
    q, k, v = qkv([3, 6], 6, dtype=torch.float32)
    op = torch.ops.realiisr.scale_attention
    with pytest.raises(RuntimeError, match="level_ends must increase strictly"):
        op(q, k, v, [3, 3, 6], 1.0)
    with pytest.raises(RuntimeError, match="q is Float but k is Double"):
        op(q, k.double(), v, [3, 6], 1.0)
    with pytest.raises(RuntimeError, match="scale must be finite"):
        op(q, k, v, [6], float("nan"))


@fused_only
def test_the_model_gives_the_same_losses_and_samples_with_either_backend():
    import realiisr

    torch.manual_seed(0)
    model = realiisr.build("real_iisr_x4_tiny", **{"tokenizer.patch_nums": [1, 2, 4], "generator.patch_nums": [1, 2, 4],
                                                   "generator.context_maps": [4, 4]})
    lr, hr = torch.rand(2, 3, 64, 64) * 2 - 1, torch.rand(2, 3, 64, 64) * 2 - 1
    from realiisr.ops._dispatch import choose_backend

    assert choose_backend("scale_attention", torch.device("cpu"))[0] == "fused"
    results = {}
    for backend in ("eager", "auto"):
        with use_backend(backend):
            model.zero_grad()
            losses = model.training_losses(lr, hr)
            losses["total"].backward()
            results[backend] = (losses["total"].detach(), model.generator.head.weight.grad.clone(),
                                model.eval().sample(lr))
            model.train()
    for a, b in zip(results["eager"], results["auto"]):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("backend", ["eager", "auto"])
def test_unmasked_attention_with_more_queries_than_keys(backend):
    q, k, v = qkv([3], 3, dtype=torch.float32)
    q = torch.cat([q, q], 2)  # 6 queries, 3 keys: plain attention, no levels
    with use_backend(backend):
        out = scale_attention(q, k, v, None)
    torch.testing.assert_close(out, scale_attention_reference(q, k, v, None))


@fused_only
def test_auto_keeps_eager_for_training_attention_on_cuda():
    """Measured on an H200: the per-level form loses in forward+backward there, so `auto` takes eager with grad."""
    from realiisr.ops._dispatch import choose_backend

    cuda = torch.device("cuda")
    state = extension_state()
    if state.with_cuda:
        assert choose_backend("scale_attention", cuda)[0] == "fused"
        backend, reason = choose_backend("scale_attention", cuda, with_grad=True)
        assert backend == "eager" and "forward+backward" in reason
        with use_backend("fused"):
            assert choose_backend("scale_attention", cuda, with_grad=True)[0] == "fused"
    assert choose_backend("scale_attention", torch.device("cpu"), with_grad=True)[0] == "fused"


@fused_only
def test_status_shows_the_training_choice_for_cuda_attention(monkeypatch):
    import realiisr.ops

    if not extension_state().with_cuda:
        pytest.skip("realiisr._C was built without CUDA")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # status only asks the dispatcher
    line = realiisr.ops.status()["scale_attention"]["cuda"]
    assert line.startswith("fused") and "with gradients: eager" in line
    assert "with gradients" not in realiisr.ops.status()["scale_attention"]["cpu"]


@pytest.mark.parametrize("level_ends, q_len", [([1, 5, 14, 30], 30), ([3, 7, 16, 32, 57], 57), ([4, 8, 20], 12)])
def test_flex_attention_block_mask_matches_the_level_rule(level_ends, q_len):
    """The FlexAttention path (CUDA training, REALIISR_ATTENTION=flex) against the masked SDPA reference:
    forward on the CPU (PyTorch has no CPU backward for FlexAttention; the CUDA backward runs on a GPU only),
    queries as the last positions, the BlockMask built once per layout."""
    from realiisr.ops.flex_attention import flex_scale_attention, level_block_mask
    from realiisr.ops.reference import scale_attention_reference

    gen = torch.Generator().manual_seed(0)
    q = torch.randn(2, 3, q_len, 16, generator=gen, dtype=torch.float64)
    k, v = (torch.randn(2, 3, level_ends[-1], 16, generator=gen, dtype=torch.float64) for _ in range(2))
    for scale in (None, 1.0):
        out = flex_scale_attention(q, k, v, level_ends, scale)
        torch.testing.assert_close(out, scale_attention_reference(q, k, v, level_ends, scale), atol=1e-10, rtol=1e-10)
    assert level_block_mask(tuple(level_ends), q_len, "cpu") is level_block_mask(tuple(level_ends), q_len, "cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (FlexAttention's backward)")
def test_flex_attention_gradients_on_cuda(monkeypatch):
    from realiisr.ops import scale_attention
    from realiisr.ops.reference import scale_attention_reference

    monkeypatch.setenv("REALIISR_ATTENTION", "flex")
    ends = [1, 5, 14, 30, 66, 130]
    q, k, v = (torch.randn(2, 4, 130, 64, device="cuda", requires_grad=True) for _ in range(3))
    out = scale_attention(q, k, v, ends, 1.0)
    ref = scale_attention_reference(q, k, v, ends, 1.0)
    torch.testing.assert_close(out, ref, atol=2e-5, rtol=2e-5)
    grads = torch.autograd.grad(out.square().sum(), (q, k, v))
    ref_grads = torch.autograd.grad(ref.square().sum(), (q, k, v))
    for a, b in zip(grads, ref_grads):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
