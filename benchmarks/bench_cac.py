"""CAC at the full model's shape (V=4096, C=32, r=8): the per-token embedding (B=4, L=2240) and the whole
conditioned codebook [4, 4096, 32], eager vs fused."""
from __future__ import annotations

import pytest
import torch

from realiisr.ops import cac_codebook, cac_embedding, extension_state, use_backend
from realiisr.ops.reference import cac_codebook_reference, cac_embedding_reference

# CUDA cases are listed everywhere and skipped with a reason where no GPU exists (CI never has one)
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"))]
THREADS = 1  # see benchmarks/conftest.py



def _factors(device: str, grad: bool) -> list[torch.Tensor]:
    """codebook, U, V, h, gate."""
    gen = torch.Generator().manual_seed(0)
    tensors = [torch.randn(*s, generator=gen).to(device).requires_grad_(grad) for s in ((4096, 32), (4096, 8), (32, 8), (4, 8))]
    return tensors + [torch.tensor([0.3], device=device, requires_grad=grad)]


CASES = {  # name: (public op, eager reference, extra leading arguments from the device)
    "embedding 4x2240": (cac_embedding, cac_embedding_reference,
                         lambda device: [torch.randint(0, 4096, (4, 2240), generator=torch.Generator().manual_seed(1)).to(device)]),
    "codebook 4x4096x32": (cac_codebook, cac_codebook_reference, lambda device: []),
}


@pytest.mark.parametrize("mode", ["fwd", "fwd+bwd"])
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("impl", ["eager", "fused"])
def test_cac(benchmark, impl, case, device, mode):
    if impl == "fused" and not extension_state().loaded:
        pytest.skip(f"fused ops unavailable: {extension_state().reason}")
    op, reference, leading = CASES[case]
    args = [*leading(device), *_factors(device, mode == "fwd+bwd")]
    with use_backend(impl):
        torch.testing.assert_close(op(*args), reference(*args), atol=1e-4, rtol=1e-5)

    def step():
        with use_backend(impl):
            out = op(*args)
            if mode == "fwd+bwd":
                out.sum().backward()
        if device == "cuda":
            torch.cuda.synchronize()

    benchmark.group = f"cac|{case} V4096 C32 r8|{device}|{mode}"
    out = op(*args)
    benchmark.extra_info.update({"impl": impl, "bytes_out": out.numel() * out.element_size()})
    benchmark.pedantic(step, rounds=20, warmup_rounds=3, iterations=1)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", list(CASES))
def test_copy_baseline(benchmark, case, device):
    """Reading and writing the output's bytes once: the floor for the forward (which also gathers the rows)."""
    op, _, leading = CASES[case]
    src = op(*leading(device), *_factors(device, False)).detach()

    def copy():
        src.clone()
        if device == "cuda":
            torch.cuda.synchronize()

    benchmark.group = f"cac|{case} V4096 C32 r8|{device}|fwd"
    benchmark.extra_info.update({"impl": "copy of the output", "bytes_out": src.numel() * src.element_size()})
    benchmark.pedantic(copy, rounds=20, warmup_rounds=3, iterations=1)
