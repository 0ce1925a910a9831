"""Seconds per 256×192 LR frame (→ 1024×768) for the tiny recipe, random weights, float32 and bfloat16
autocast; tiles/s in extra_info. The shipped recipe with its weights, default settings (``dtype auto``, overlap 8),
on a 256×192 and a 640×512 frame, with classifier-free guidance at the reference's 1 and at the recipe's 0, and at
overlap 4 (an A/B in one process), and with ``tta`` 1/2/4/8 on the 256×192 frame. The last benchmark repeats the bfloat16 frame with the allocator setting of
the ``realiisr`` command (:func:`realiisr.inference.memory.keep_freed_memory`), which cannot be undone, so
benchmarks/conftest.py runs it after every other test."""
from __future__ import annotations

import pytest
import torch

import realiisr
from realiisr.inference import Upscaler
from realiisr.inference.memory import keep_freed_memory
from realiisr.inference.upscale import _margins, tile_starts


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


@pytest.mark.parametrize("cfg,overlap", [(1.0, 8), (0.0, 8), (0.0, 4)], ids=["cfg1", "cfg0-default", "cfg0-overlap4"])
@pytest.mark.parametrize("size", [(192, 256), (512, 640)], ids=["256x192", "640x512"])
def test_upscale_frame_shipped(benchmark, size, cfg, overlap):
    torch.manual_seed(0)
    model = _shipped_model()
    h, w = size
    frame = _smooth_frame(h, w)
    upscaler = Upscaler(model, cfg=cfg, overlap=overlap)
    tiles = 1
    for n in (h, w):
        tiles *= len(tile_starts(n + sum(_margins(n, upscaler.lr_tile, overlap, upscaler.border)), upscaler.lr_tile,
                                 overlap))
    benchmark.group = f"upscale|real_iisr_x4_flir|{w}x{h}->{4 * w}x{4 * h}|cpu"
    benchmark.extra_info.update({"impl": f"cfg {cfg:g}, overlap {overlap}", "tiles": tiles, "overlap": overlap,
                                 "dtype": "auto", "threads": torch.get_num_threads()})
    result = benchmark.pedantic(lambda: upscaler(frame), rounds=3, warmup_rounds=1, iterations=1)
    assert result.shape == (1, 4 * h, 4 * w)
    benchmark.extra_info["tiles_per_s"] = tiles / benchmark.stats.stats.median


@pytest.mark.parametrize("tta", [1, 2, 4, 8])
def test_upscale_frame_shipped_tta(benchmark, tta):
    """The cost of ``--tta N`` (the self-ensemble over N flips/turns) on the 256×192 frame, default settings."""
    model = _shipped_model()
    frame = _smooth_frame(192, 256)
    upscaler = Upscaler(model, tta=tta)
    benchmark.group = "upscale|real_iisr_x4_flir|256x192->1024x768|cpu|tta"
    benchmark.extra_info.update({"impl": f"tta {tta}", "dtype": "auto", "threads": torch.get_num_threads()})
    result = benchmark.pedantic(lambda: upscaler(frame), rounds=3, warmup_rounds=1, iterations=1)
    assert result.shape == (1, 768, 1024)


_SHIPPED: dict = {}


def _smooth_frame(h: int, w: int) -> torch.Tensor:
    """A smooth frame with edges, in [0, 1] (random noise would make the tokens' work unlike a real frame's)."""
    y, x = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    frame = 0.4 + 0.3 * torch.sin(9 * x) * torch.cos(7 * y) + 0.2 * ((x - 0.5) ** 2 + (y - 0.4) ** 2 < 0.05)
    return frame[None].clamp(0, 1)


def _shipped_model():
    if "model" not in _SHIPPED:
        _SHIPPED["model"] = realiisr.build("real_iisr_x4_flir", pretrained=True).eval()
    return _SHIPPED["model"]


@pytest.mark.process_wide
def test_upscale_frame_as_the_cli_runs(benchmark):
    if not keep_freed_memory():
        pytest.skip("not glibc: the realiisr command leaves this allocator as it is")
    # Two warm-up frames: the heap keeps growing for the first few large allocations after the switch (the
    # command switches before its first one).
    _frame_benchmark(benchmark, "cpu", 4, "bfloat16", "kept freed memory (realiisr command)", warmup_rounds=2)
