"""Seconds per 256×192 LR frame (→ 1024×768) for the tiny recipe, random weights, float32 and bfloat16
autocast; tiles/s in extra_info. The last benchmark repeats the bfloat16 frame with the allocator setting of
the ``realiisr`` command (:func:`realiisr.inference.memory.keep_freed_memory`), which cannot be undone, so
benchmarks/conftest.py runs it after every other test."""
from __future__ import annotations

import pytest
import torch

import realiisr
from realiisr.inference import Upscaler
from realiisr.inference.memory import keep_freed_memory
from realiisr.inference.upscale import tile_starts


def _frame_benchmark(benchmark, device, overlap, dtype, allocator, warmup_rounds=1):
    torch.manual_seed(0)
    model = realiisr.build("real_iisr_x4_tiny", device=device).eval()
    frame = torch.rand(1, 192, 256)
    upscaler = Upscaler(model, overlap=overlap, batch_size=32, dtype=dtype)
    tiles = len(tile_starts(192, upscaler.lr_tile, overlap)) * len(tile_starts(256, upscaler.lr_tile, overlap))
    benchmark.group = f"upscale|real_iisr_x4_tiny|256x192->1024x768|{device}"
    benchmark.extra_info.update({"tiles": tiles, "overlap": overlap, "dtype": dtype, "allocator": allocator,
                                 "threads": torch.get_num_threads()})

    def run():
        out = upscaler(frame)
        if device == "cuda":
            torch.cuda.synchronize()
        return out

    result = benchmark.pedantic(run, rounds=3, warmup_rounds=warmup_rounds, iterations=1)
    assert result.shape == (1, 768, 1024)
    benchmark.extra_info["tiles_per_s"] = tiles / benchmark.stats.stats.median


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("overlap", [8, 4])
@pytest.mark.parametrize("device", ["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
def test_upscale_frame(benchmark, device, overlap, dtype):
    _frame_benchmark(benchmark, device, overlap, dtype, "default")


@pytest.mark.process_wide
def test_upscale_frame_as_the_cli_runs(benchmark):
    if not keep_freed_memory():
        pytest.skip("not glibc: the realiisr command leaves this allocator as it is")
    # Two warm-up frames: the heap keeps growing for the first few large allocations after the switch (the
    # command switches before its first one).
    _frame_benchmark(benchmark, "cpu", 4, "bfloat16", "kept freed memory (realiisr command)", warmup_rounds=2)
