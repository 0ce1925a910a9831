"""CAC embedding: eager reference against the official numbers, fused kernel against the reference."""
from __future__ import annotations

import pytest
import torch

from realiisr.ops import cac_codebook, cac_embedding, extension_state, use_backend
from realiisr.ops.reference import cac_codebook_reference, cac_embedding_reference

fused_only = pytest.mark.skipif(not extension_state().loaded, reason=f"fused ops unavailable: {extension_state().reason}")
# CUDA cases are listed everywhere and skipped with a reason where no GPU exists (CI never has one)
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"))]
cuda_only = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
# (C, r): the model's shape is (32, 8); 40 takes a second lane chunk in the CUDA kernels, 300 is past their
# limit (C <= 256) and takes the ATen composite there.
WIDTHS = [(16, 4), (40, 3), (300, 2)]


def factors(vocab=64, dim=16, rank=4, batch=3, dtype=torch.float64, device="cpu", seed=0):
    g = torch.Generator().manual_seed(seed)
    make = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64).to(dtype=dtype, device=device)  # noqa: E731
    return [make(vocab, dim), make(vocab, rank), make(dim, rank), make(batch, rank), make(1) * 0.5 + 0.3]


@pytest.mark.parametrize("backend", ["eager", pytest.param("fused", marks=fused_only)])
def test_matches_the_official_embedding_lora(golden, backend):
    state, case = golden["state_dict"], golden["components"]["embedding_lora"]
    with use_backend(backend):
        out = cac_embedding(case["idx"], state["vae.quantize.embedding.weight"], state["vae.quantize.U"],
                            state["vae.quantize.V"], case["h"], state["vae.quantize.lora_gate"])
    torch.testing.assert_close(out, case["out"], atol=1e-6, rtol=1e-6)


@fused_only
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("batch, length, vocab", [(1, 1, 2), (3, 10, 64), (2, 257, 512)])
@pytest.mark.parametrize("dim, rank", WIDTHS)
def test_fused_forward_and_gradients_match_reference(device, dtype, batch, length, vocab, dim, rank):
    tensors = [t.requires_grad_() for t in factors(vocab=vocab, dim=dim, rank=rank, batch=batch, dtype=dtype,
                                                   device=device)]
    idx = torch.randint(0, vocab, (batch, length), device=device)
    idx[0, 0], idx[-1, -1] = 0, vocab - 1  # the vocabulary's edges
    _assert_fused_matches(lambda *t: cac_embedding(idx, *t), lambda *t: cac_embedding_reference(idx, *t), tensors, dtype)


def _assert_fused_matches(fused, reference, tensors, dtype):
    """Forward and the gradients of every factor, fused against the reference; returns the fused output."""
    want = reference(*tensors)
    with use_backend("fused"):
        got = fused(*tensors)
    tol = {"atol": 1e-5, "rtol": 1e-5} if dtype == torch.float32 else {"atol": 1e-12, "rtol": 1e-12}
    torch.testing.assert_close(got, want, **tol)
    grad = torch.randn_like(want)
    for a, b in zip(torch.autograd.grad(got, tensors, grad), torch.autograd.grad(want, tensors, grad)):
        torch.testing.assert_close(a, b, **tol)
    return got


@fused_only
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("op", ["embedding", "codebook"])
def test_gradients_of_a_partly_frozen_cac_match_the_reference(device, op):
    """Only U and h train (the C++ autograd computes the backward once and hands out just what is needed)."""
    E, U, V, h, gate = factors(device=device)
    U, h = U.requires_grad_(), h.requires_grad_()
    idx = torch.randint(0, 64, (3, 9), device=device)
    fused, reference = ((lambda *t: cac_embedding(idx, *t)), (lambda *t: cac_embedding_reference(idx, *t))) \
        if op == "embedding" else (cac_codebook, cac_codebook_reference)
    with use_backend("fused"):
        fused(E, U, V, h, gate).square().sum().backward()
    got = (U.grad.clone(), h.grad.clone())
    U.grad = h.grad = None
    reference(E, U, V, h, gate).square().sum().backward()
    for a, b in zip(got, (U.grad, h.grad)):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-12)


@fused_only
@pytest.mark.parametrize("device", DEVICES)
def test_gradcheck_opcheck_and_compile(device):
    tensors = [t.requires_grad_() for t in factors(device=device)]
    idx = torch.randint(0, 64, (3, 7), device=device)

    def fused(*args):
        with use_backend("fused"):
            return cac_embedding(idx, *args)

    assert torch.autograd.gradcheck(fused, tensors)
    torch.library.opcheck(torch.ops.realiisr.cac_embedding.default, (idx, *[t.float().detach().requires_grad_() for t in tensors]))
    compiled = torch.compile(lambda *a: torch.ops.realiisr.cac_embedding(idx, *a).sum(), fullgraph=True, backend="aot_eager")
    floats = [t.float().detach() for t in tensors]
    torch.testing.assert_close(compiled(*floats), cac_embedding_reference(idx, *floats).sum(), atol=1e-3, rtol=1e-5)


def _assert_bf16_rule(fused, reference, exact):
    """bf16 forward and every factor gradient: the fused error against fp32 is at most twice the eager bf16 error."""
    exact = [t.detach().requires_grad_() for t in exact]
    low = [t.detach().bfloat16().requires_grad_() for t in exact]
    want = reference(*exact)
    grad = torch.randn(want.shape, generator=torch.Generator().manual_seed(3)).to(want.device)
    with use_backend("fused"):
        got = fused(*low)
    eager = reference(*low)
    assert got.dtype == torch.bfloat16
    outs = [(want, got, eager)]
    for triple in zip(torch.autograd.grad(want, exact, grad), torch.autograd.grad(got, low, grad.bfloat16()),
                      torch.autograd.grad(eager, low, grad.bfloat16())):
        outs.append(triple)
    for name, (truth, fused_value, eager_value) in zip(["out", "dE", "dU", "dV", "dh", "da"], outs):
        fused_err = (fused_value.float() - truth).abs().max()
        eager_err = (eager_value.float() - truth).abs().max()
        assert fused_err <= 2 * eager_err + 1e-6, f"{name}: fused error {fused_err:.3g} vs eager {eager_err:.3g}"


@fused_only
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("op", ["embedding", "codebook"])
def test_bf16_error_at_most_twice_eager(device, op):
    idx = torch.randint(0, 256, (4, 300), generator=torch.Generator().manual_seed(2)).to(device)
    fused, reference = ((lambda *t: cac_embedding(idx, *t)), (lambda *t: cac_embedding_reference(idx, *t))) \
        if op == "embedding" else (cac_codebook, cac_codebook_reference)
    _assert_bf16_rule(fused, reference, factors(dtype=torch.float32, vocab=256, batch=4, device=device))


@fused_only
@pytest.mark.parametrize("op", ["embedding", "codebook"])
def test_fused_gradients_are_deterministic_across_thread_counts(op):
    """Repeated ids (every id used ~40 times) and 1 vs 2 threads: bit-identical gradients."""
    tensors = [t.requires_grad_() for t in factors(vocab=128, batch=4, dtype=torch.float32)]
    idx = torch.randint(0, 128, (4, 1300), generator=torch.Generator().manual_seed(1))
    fn = (lambda *t: cac_embedding(idx, *t)) if op == "embedding" else cac_codebook
    previous = torch.get_num_threads()
    runs = []
    try:
        for threads in (1, 2, 2):
            torch.set_num_threads(threads)
            with use_backend("fused"):
                out = fn(*tensors)
            runs.append(torch.autograd.grad(out, tensors, torch.ones_like(out)))
    finally:
        torch.set_num_threads(previous)
    for other in runs[1:]:
        for a, b in zip(runs[0], other):
            assert torch.equal(a, b)


@fused_only
@cuda_only
@pytest.mark.parametrize("op", ["embedding", "codebook"])
def test_cuda_gradients_are_deterministic(op):
    """Repeated ids (each ~40 times, the model's C and r): the CUDA backward gives bit-identical gradients."""
    tensors = [t.requires_grad_() for t in factors(vocab=128, dim=32, rank=8, batch=4, dtype=torch.float32,
                                                   device="cuda")]
    idx = torch.randint(0, 128, (4, 1300), generator=torch.Generator().manual_seed(1)).cuda()
    fn = (lambda *t: cac_embedding(idx, *t)) if op == "embedding" else cac_codebook
    runs = []
    for _ in range(3):
        with use_backend("fused"):
            out = fn(*tensors)
        runs.append(torch.autograd.grad(out, tensors, torch.ones_like(out)))
    for other in runs[1:]:
        for a, b in zip(runs[0], other):
            assert torch.equal(a, b)


@fused_only
@cuda_only
def test_cuda_backward_never_reads_through_out_of_range_ids():
    """The CUDA backward skips the host-side id check (the forward made it): a bad id must touch nothing."""
    E, U, V, h, gate = factors(dtype=torch.float32, device="cuda")
    idx = torch.tensor([[70, 1], [-5, 2], [3, 64]], device="cuda")
    dE, dU, dV, dh, da = torch.ops.realiisr.cac_embedding_backward(torch.ones(3, 2, 16, device="cuda"), idx, E, U, V,
                                                                    h, gate)
    torch.cuda.synchronize()  # raises if a kernel faulted
    used = torch.zeros(64, dtype=torch.bool)
    used[[1, 2, 3]] = True
    assert torch.equal(dE[~used].cpu(), torch.zeros(61, 16)) and torch.equal(dE[used].cpu(), torch.ones(3, 16))
    assert torch.isfinite(torch.cat([dU.flatten(), dV.flatten(), dh.flatten(), da.flatten()])).all()


@pytest.mark.parametrize("backend", ["eager", pytest.param("fused", marks=fused_only)])
def test_bad_input_is_a_clear_error(backend):
    E, U, V, h, gate = factors(dtype=torch.float32)
    idx = torch.randint(0, 64, (3, 5))
    with use_backend(backend):
        with pytest.raises(ValueError, match=r"token ids must lie in \[0, 64\), got \[0, 64\]"):
            cac_embedding(torch.tensor([[0, 64, 1]] * 3), E, U, V, h, gate)
        with pytest.raises(ValueError, match="token ids must lie"):
            cac_embedding(torch.tensor([[-1, 3, 1]] * 3), E, U, V, h, gate)
        with pytest.raises(ValueError, match=r"V must be \[C=16, r=4\]"):
            cac_embedding(idx, E, U, V.t(), h, gate)
        with pytest.raises(ValueError, match=r"idx must be an integer \[B=3, L\]"):
            cac_embedding(idx[:2], E, U, V, h, gate)
        with pytest.raises(TypeError, match="must be floating point"):
            cac_embedding(idx, E, U.long(), V, h, gate)
        mixed = cac_embedding(idx, E, U, V, h.bfloat16(), gate)  # autocast hands over a bf16 h: promoted
        assert mixed.dtype == torch.float32


@fused_only
def test_raw_op_refuses_out_of_range_ids():  # the CPU kernels (CUDA: see the test above)
    E, U, V, h, gate = factors(dtype=torch.float32)
    with pytest.raises(RuntimeError, match="token ids must lie in"):
        torch.ops.realiisr.cac_embedding(torch.tensor([[70]] * 3), E, U, V, h, gate)
    with pytest.raises(RuntimeError, match="token ids must lie in"):
        torch.ops.realiisr.cac_embedding_backward(torch.ones(3, 1, 16), torch.tensor([[70]] * 3), E, U, V, h, gate)
    with pytest.raises(RuntimeError, match=r"grad must be \[B=3, L=1, C=16\]"):
        torch.ops.realiisr.cac_embedding_backward(torch.ones(3, 2, 16), torch.tensor([[1]] * 3), E, U, V, h, gate)


@fused_only
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("vocab, batch", [(1, 1), (64, 3), (512, 2)])
def test_fused_whole_codebook_and_gradients_match_reference(device, dtype, vocab, batch):
    tensors = [t.requires_grad_() for t in factors(vocab=vocab, batch=batch, dtype=dtype, device=device)]
    got = _assert_fused_matches(cac_codebook, cac_codebook_reference, tensors, dtype)
    assert got.shape == (batch, vocab, 16)


@fused_only
@pytest.mark.parametrize("device", DEVICES)
def test_whole_codebook_gradcheck_opcheck_and_compile(device):
    tensors = [t.requires_grad_() for t in factors(vocab=12, batch=2, device=device)]
    op = torch.ops.realiisr.cac_codebook
    assert torch.autograd.gradcheck(lambda *a: op(*a), tensors)
    floats = [t.float().detach().requires_grad_() for t in tensors]
    torch.library.opcheck(op.default, tuple(floats))
    compiled = torch.compile(lambda *a: op(*a).sum(), fullgraph=True, backend="aot_eager")
    torch.testing.assert_close(compiled(*floats), cac_codebook_reference(*floats).sum(), atol=1e-3, rtol=1e-5)
    with pytest.raises(RuntimeError, match=r"V must be \[C=16, r=4\]"):
        op(floats[0], floats[1], floats[2].t().contiguous(), floats[3], floats[4])


@fused_only
def test_auto_keeps_eager_for_cac_on_cpus_without_avx2(monkeypatch):
    from realiisr.ops import _dispatch

    cpu = torch.device("cpu")
    monkeypatch.setattr(_dispatch, "_cpu_has_avx2", lambda: True)
    assert _dispatch.choose_backend("cac_embedding", cpu)[0] == "fused"
    monkeypatch.setattr(_dispatch, "_cpu_has_avx2", lambda: False)
    backend, reason = _dispatch.choose_backend("cac_codebook", cpu)
    assert backend == "eager" and "lacks AVX2" in reason
    assert _dispatch.choose_backend("toc_loss", cpu)[0] == "fused"  # memory-bound: fine at any width
    with use_backend("fused"):
        assert _dispatch.choose_backend("cac_embedding", cpu)[0] == "fused"  # forcing still works
