"""GroupNorm + SiLU at the decoder's largest activation (32 tiles, 32 channels, 128², channels last): eager
``silu_(group_norm(x))`` (what the decoder ran before) vs the fused kernel, out of place and overwriting its
input (what the decoder runs now on fresh conv outputs). Inference only: the fused op has no backward.

Groups are ``group_norm_silu|<shape>|<dtype>|cpu|fwd``; correctness is asserted before anything is timed."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from realiisr.ops import extension_state, group_norm_silu, use_backend

SHAPE = (32, 32, 128, 128)
THREADS = 1  # as the other op benchmarks: 2-thread timings on the shared 2-core box are erratic


@pytest.mark.parametrize("dtype", ["bfloat16", "float32"])
@pytest.mark.parametrize("impl", ["eager", "fused", "fused_overwrite"])
def test_group_norm_silu(benchmark, impl, dtype):
    if impl != "eager" and not extension_state().loaded:
        pytest.skip(f"fused ops unavailable: {extension_state().reason}")
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(SHAPE, generator=gen).to(getattr(torch, dtype)).contiguous(memory_format=torch.channels_last)
    weight, bias = torch.rand(SHAPE[1], generator=gen) + 0.5, torch.randn(SHAPE[1], generator=gen)
    work = x.clone()

    def eager():
        return F.silu(F.group_norm(x, 32, weight, bias, 1e-6), inplace=True)

    def fused():
        with use_backend("fused"):
            return group_norm_silu(x, 32, weight, bias, 1e-6)

    def fused_overwrite():  # the decoder overwrites a fresh conv output; here the same buffer each round
        with use_backend("fused"):
            return group_norm_silu(work, 32, weight, bias, 1e-6, overwrite_input=True)

    fn = {"eager": eager, "fused": fused, "fused_overwrite": fused_overwrite}[impl]
    with torch.no_grad():
        expected = F.silu(F.group_norm(x.float(), 32, weight, bias, 1e-6))
        tol = 1e-5 if dtype == "float32" else 0.05
        torch.testing.assert_close(fn().float(), expected, rtol=tol, atol=tol)
        benchmark.group = f"group_norm_silu|{'x'.join(map(str, SHAPE))}|{dtype}|cpu|fwd"
        benchmark.extra_info.update({"impl": impl, "bytes_in": x.numel() * x.element_size(), "layout": "channels_last"})
        benchmark.pedantic(fn, rounds=15, warmup_rounds=2, iterations=1)
