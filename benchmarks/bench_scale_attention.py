"""Multi-scale attention: the package's eager reference (SDPA with a boolean block mask), the reference
implementation's dense additive mask, and the fused level-by-level op, at the full model's training
sequence (2049 context + 2239 tokens, 24 heads × 64, B=1; forward and forward+backward), one KV-cache step of
the last scale (1024 queries against 4288 keys, no mask) and the tiny recipe's training shape; on CUDA also
FlexAttention with the level BlockMask (``realiisr.ops.flex_attention``, the candidate training path)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from realiisr.ops import extension_state, scale_attention, use_backend
from realiisr.ops.reference import scale_attention_reference

# CUDA cases are listed everywhere and skipped with a reason where no GPU exists (CI never has one)
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"))]
THREADS = 2  # see benchmarks/conftest.py


def _level_ends(context: int, patch_nums: list[int]) -> list[int]:
    """Level 0 is the context and the class token; then one level per scale after the first."""
    ends = [context + 1]
    for pn in patch_nums[1:]:
        ends.append(ends[-1] + pn * pn)
    return ends


FULL = _level_ends(2048, [1, 2, 3, 4, 6, 9, 13, 18, 24, 32])  # ends at 4288
# name: (batch, heads, head dim, level ends, queries); queries < keys is a KV-cache step (one level, no mask)
SHAPES = {
    "full_train": (1, 24, 64, FULL, FULL[-1]),
    "full_kv_step": (1, 24, 64, FULL, 1024),
    "tiny_train": (8, 2, 64, _level_ends(128, [1, 2, 3, 4, 6, 8]), None),  # two 8×8 context maps
}


def _additive_mask(ends: list[int], device: str) -> torch.Tensor:
    """The reference's dense float mask: 0 where a query may look, -inf elsewhere."""
    level = torch.bucketize(torch.arange(ends[-1], device=device), torch.tensor(ends, device=device), right=True)
    return torch.where(level[None, :] <= level[:, None], 0.0, float("-inf"))



@pytest.mark.parametrize("mode", ["fwd", "fwd+bwd"])
@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("impl", ["eager", "eager_additive_mask", "fused", "flex"])
def test_scale_attention(benchmark, impl, device, dtype, shape, mode):
    if impl == "fused" and not extension_state().loaded:
        pytest.skip(f"fused ops unavailable: {extension_state().reason}")
    if impl == "flex" and device != "cuda":
        pytest.skip("FlexAttention (compiled, with a backward) is the CUDA training path")
    if device == "cpu" and dtype != "float32":
        pytest.skip("bfloat16 is the GPU case (the model runs under bf16 autocast there)")
    batch, heads, dim, ends, queries = SHAPES[shape]
    queries = queries or ends[-1]
    kv_step = queries < ends[-1]
    if kv_step and mode != "fwd":
        pytest.skip("a KV-cache step is inference only")
    gen = torch.Generator().manual_seed(0)
    grad = mode == "fwd+bwd"
    make = lambda n: torch.randn(batch, heads, n, dim, generator=gen).to(device, getattr(torch, dtype)).requires_grad_(grad)  # noqa: E731
    q, k, v = make(queries), make(ends[-1]), make(ends[-1])
    level_ends = None if kv_step else ends
    mask = None if kv_step or impl != "eager_additive_mask" else _additive_mask(ends, device).to(q.dtype)

    def run():
        if impl == "eager_additive_mask":
            return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        if impl == "flex" and level_ends is not None:
            from realiisr.ops.flex_attention import flex_scale_attention

            return flex_scale_attention(q, k, v, level_ends)
        with use_backend("fused" if impl == "fused" else "eager"):
            return scale_attention(q, k, v, level_ends)

    tol = 1e-4 if dtype == "float32" else 2e-2
    torch.testing.assert_close(run(), scale_attention_reference(q, k, v, level_ends), atol=tol, rtol=tol)

    def step():
        out = run()
        if grad:
            out.sum().backward()
        if device == "cuda":
            torch.cuda.synchronize()

    benchmark.group = f"attention|{shape}|B{batch}H{heads}Lq{queries}Lk{ends[-1]}D{dim}|{device}|{dtype}|{mode}"
    mask_bytes = 0 if kv_step or impl == "fused" else (ends[-1] ** 2 * (4 if impl == "eager_additive_mask" else 1))
    benchmark.extra_info.update({"impl": impl, "threads": torch.get_num_threads(), "mask_bytes": mask_bytes})
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    benchmark.pedantic(step, rounds=3 if shape.startswith("full") else 10, warmup_rounds=1, iterations=1)
    if device == "cuda":
        benchmark.extra_info["peak_memory_bytes"] = torch.cuda.max_memory_allocated()
