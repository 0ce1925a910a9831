"""Inference time per image (random weights): the tiny recipe at 128² and the full real_iisr_x4 at 512².

``pytest --benchmark benchmarks/bench_model.py``; the full-size case builds a 1.25 B-parameter model and
takes minutes on a CPU (one round). Eager and fused ops side by side.
"""
from __future__ import annotations

import pytest
import torch

import realiisr
from realiisr.ops import extension_state, use_backend

CASES = [("real_iisr_x4_tiny", 1, 5), ("real_iisr_x4", 1, 1)]


@pytest.mark.parametrize("impl", ["eager", "fused"])
@pytest.mark.parametrize("recipe, batch, rounds", CASES, ids=[c[0] for c in CASES])
def test_inference(benchmark, recipe, batch, rounds, impl):
    if impl == "fused" and not extension_state().loaded:
        pytest.skip(f"fused ops unavailable: {extension_state().reason}")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(0)
    model = realiisr.build(recipe, device=device).eval()
    size = model.tokenizer.image_size
    lr = torch.rand(batch, 3, size, size, device=device) * 2 - 1
    dtype = torch.bfloat16 if device == "cuda" else None

    def run():
        with use_backend(impl), torch.autocast(device, dtype=dtype, enabled=dtype is not None):
            model.sample(lr)
        if device == "cuda":
            torch.cuda.synchronize()

    benchmark.group = f"inference|{recipe}|{size}x{size}|{device}"
    benchmark.extra_info.update({"impl": impl, "batch": batch, "params": model.num_parameters(),
                                 "device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu"})
    benchmark.pedantic(run, rounds=rounds, warmup_rounds=1 if rounds > 1 else 0, iterations=1)
