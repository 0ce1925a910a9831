"""Multi-scale attention: eager (masked SDPA) vs fused (level by level), at the tiny recipe's training shape
(B=8, H=2, D=64, 16² context + 8 scales up to 16², L=763) and the full recipe's (B=2, H=24, D=64, 32² context
+ 10 scales up to 32², L=3264), forward and forward+backward."""
from __future__ import annotations

import pytest
import torch

from realiisr.ops import extension_state, scale_attention, use_backend
from realiisr.ops.reference import scale_attention_reference

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _level_ends(context: int, patch_nums: list[int]) -> list[int]:
    ends, total = [], context + 1  # the context tokens and the class token form level 0
    ends.append(total)
    for pn in patch_nums[1:]:
        total += pn * pn
        ends.append(total)
    return ends


SHAPES = {
    "tiny": (8, 2, 64, _level_ends(256, [1, 2, 3, 4, 6, 8, 11, 16])),
    "full": (2, 24, 64, _level_ends(1024, [1, 2, 3, 4, 6, 9, 13, 18, 24, 32])),
}


@pytest.fixture(autouse=True)
def _threads():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.mark.parametrize("mode", ["fwd", "fwd+bwd"])
@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("impl", ["eager", "fused"])
def test_scale_attention(benchmark, impl, device, shape, mode):
    if impl == "fused" and not extension_state().loaded:
        pytest.skip(f"fused ops unavailable: {extension_state().reason}")
    batch, heads, dim, ends = SHAPES[shape]
    gen = torch.Generator().manual_seed(0)
    grad = mode == "fwd+bwd"
    q, k, v = (torch.randn(batch, heads, ends[-1], dim, generator=gen).to(device).requires_grad_(grad) for _ in range(3))
    with use_backend(impl):
        torch.testing.assert_close(scale_attention(q, k, v, ends), scale_attention_reference(q, k, v, ends),
                                   atol=1e-4, rtol=1e-4)

    def step():
        with use_backend(impl):
            out = scale_attention(q, k, v, ends)
            if grad:
                out.sum().backward()
        if device == "cuda":
            torch.cuda.synchronize()

    benchmark.group = f"scale_attention|{shape}|B{batch}H{heads}L{ends[-1]}D{dim}|{device}|{mode}"
    benchmark.extra_info.update({"impl": impl})
    rounds = 5 if shape == "full" else 10
    benchmark.pedantic(step, rounds=rounds, warmup_rounds=1, iterations=1)
