"""CAC embedding at the full model's shape (B=4, L=2240, V=4096, C=32, r=8): eager vs fused."""
from __future__ import annotations

import pytest
import torch

from realiisr.ops import cac_codebook, cac_embedding, extension_state, use_backend
from realiisr.ops.reference import cac_codebook_reference, cac_embedding_reference

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(autouse=True)
def _threads():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.mark.parametrize("mode", ["fwd", "fwd+bwd"])
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("impl", ["eager", "fused"])
def test_cac(benchmark, impl, device, mode):
    if impl == "fused" and not extension_state().loaded:
        pytest.skip(f"fused ops unavailable: {extension_state().reason}")
    gen = torch.Generator().manual_seed(0)
    grad = mode == "fwd+bwd"
    tensors = [torch.randn(*s, generator=gen).to(device).requires_grad_(grad) for s in ((4096, 32), (4096, 8), (32, 8), (4, 8))]
    gate = torch.tensor([0.3], device=device, requires_grad=grad)
    idx = torch.randint(0, 4096, (4, 2240), generator=gen).to(device)
    with use_backend(impl):
        torch.testing.assert_close(cac_embedding(idx, *tensors, gate), cac_embedding_reference(idx, *tensors, gate),
                                   atol=1e-4, rtol=1e-5)

    def step():
        with use_backend(impl):
            out = cac_embedding(idx, *tensors, gate)
            if grad:
                out.sum().backward()
        if device == "cuda":
            torch.cuda.synchronize()

    benchmark.group = f"cac|4x2240x4096x32r8|{device}|{mode}"
    benchmark.extra_info.update({"impl": impl})
    benchmark.pedantic(step, rounds=20, warmup_rounds=3, iterations=1)


@pytest.mark.parametrize("mode", ["fwd", "fwd+bwd"])
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("impl", ["eager", "fused"])
def test_cac_codebook(benchmark, impl, device, mode):
    """The whole conditioned codebook [4, 4096, 32] (r=8)."""
    if impl == "fused" and not extension_state().loaded:
        pytest.skip(f"fused ops unavailable: {extension_state().reason}")
    gen = torch.Generator().manual_seed(0)
    grad = mode == "fwd+bwd"
    tensors = [torch.randn(*s, generator=gen).to(device).requires_grad_(grad) for s in ((4096, 32), (4096, 8), (32, 8), (4, 8))]
    gate = torch.tensor([0.3], device=device, requires_grad=grad)
    with use_backend(impl):
        torch.testing.assert_close(cac_codebook(*tensors, gate), cac_codebook_reference(*tensors, gate), atol=1e-4, rtol=1e-5)

    def step():
        with use_backend(impl):
            out = cac_codebook(*tensors, gate)
            if grad:
                out.sum().backward()
        if device == "cuda":
            torch.cuda.synchronize()

    benchmark.group = f"cac|codebook 4x4096x32r8|{device}|{mode}"
    benchmark.extra_info.update({"impl": impl})
    benchmark.pedantic(step, rounds=20, warmup_rounds=3, iterations=1)
