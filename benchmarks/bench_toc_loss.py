"""TOC loss: eager reference vs fused kernel, forward and forward+backward (``pytest --benchmark``).

Groups are ``toc|<shape>|<device>|<mode>`` so eager and fused sit in one table; correctness is asserted
before anything is timed.
"""
from __future__ import annotations

import pytest
import torch

from realiisr.ops import build_info, extension_state, use_backend
from realiisr.ops import toc_loss as toc_dispatch
from realiisr.ops.reference import toc_loss_reference

SHAPES = [(4, 3, 512, 512), (16, 1, 128, 128)]
# CUDA cases are listed everywhere and skipped with a reason where no GPU exists (CI never has one)
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"))]
THREADS = 1  # 2-thread timings on this shared 2-core box spike by 10-40x
IMPLS = ["eager", "fused"]


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()



@pytest.mark.parametrize("mode", ["fwd", "fwd+bwd"])
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("impl", IMPLS)
def test_toc(benchmark, impl, shape, device, mode):
    if impl == "fused" and not extension_state().loaded:
        pytest.skip(f"fused ops unavailable: {extension_state().reason}")
    gen = torch.Generator().manual_seed(0)
    sr = torch.rand(shape, generator=gen).to(device).requires_grad_(mode == "fwd+bwd")
    hr = torch.rand(shape, generator=gen).to(device)

    def run_fused():
        with use_backend("fused"):
            return toc_dispatch(sr, hr)

    fn = toc_loss_reference if impl == "eager" else lambda a, b: run_fused()
    torch.testing.assert_close(fn(sr, hr), toc_loss_reference(sr, hr), rtol=1e-4, atol=1e-5)

    def step():
        loss = fn(sr, hr)
        if mode == "fwd+bwd":
            loss.backward()
        _sync(device)

    benchmark.group = f"toc|{'x'.join(map(str, shape))}|{device}|{mode}"
    benchmark.extra_info.update(
        {"impl": impl, "device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu", "torch": torch.__version__,
         "build": build_info(), "bytes_in": 2 * sr.numel() * sr.element_size()}
    )
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    benchmark.pedantic(step, rounds=20, warmup_rounds=3, iterations=1)
    if device == "cuda":
        benchmark.extra_info["peak_memory_bytes"] = torch.cuda.max_memory_allocated()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_copy_baseline(benchmark, shape, device):
    """Copying the bytes the loss reads: the floor a memory-bound kernel is measured against."""
    src = torch.rand((2, *shape)).to(device)

    def copy():
        src.clone()
        _sync(device)

    benchmark.group = f"toc|{'x'.join(map(str, shape))}|{device}|fwd"
    benchmark.extra_info.update({"impl": "copy of the inputs", "bytes_in": src.numel() * src.element_size()})
    benchmark.pedantic(copy, rounds=20, warmup_rounds=3, iterations=1)
