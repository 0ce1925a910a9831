"""Inference time per image (random weights): the tiny recipe at 128² and the full real_iisr_x4 at 512².

``pytest --benchmark benchmarks/bench_model.py``. Every case warms up before it is timed (the first rounds pay
for cuDNN/oneDNN autotuning, the allocator and lazy initialisation) and reports images/s and, on CUDA, the
kernels and host launch calls of one sample (``extra_info``). On a CPU the full-size model (1.25 B parameters) takes minutes a
round, so it runs two rounds there: one warm-up, one timed. ``fused+graphs`` replays the generator's
per-scale passes from CUDA graphs (captured in the warm-up rounds); ``+compiled`` runs the blocks' small ops
through ``torch.compile`` (compiled in the warm-up rounds).
"""
from __future__ import annotations

import functools

import pytest
import torch

import realiisr
from realiisr.ops import extension_state, use_backend

# (recipe, batch, timed rounds on CUDA, timed rounds on CPU)
CASES = [("real_iisr_x4_tiny", 1, 20, 5), ("real_iisr_x4", 1, 5, 1), ("real_iisr_x4", 4, 5, 1)]
WARMUP_ROUNDS = 2


@functools.lru_cache(maxsize=2)
def _model(recipe: str, device: str) -> torch.nn.Module:
    """One model per recipe for every case (building the 1.1 B model takes longer than timing it)."""
    torch.manual_seed(0)
    return realiisr.build(recipe, device=device).eval()


#: Host-side launch calls as the profiler names them (CUDA runtime and driver API events).
_HOST_LAUNCH_CALLS = ("cudaLaunchKernel", "cuLaunchKernel", "cudaLaunchCooperativeKernel", "cudaGraphLaunch")


def _launches(run) -> tuple[int, int]:
    """(kernels the GPU ran, launch calls the host made) in one ``run()``: with CUDA graphs the first stays
    and the second drops to about one call per replayed graph."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        run()
    events = prof.events()
    kernels = sum(1 for event in events if event.device_type == torch.autograd.DeviceType.CUDA)
    host = sum(1 for event in events if event.device_type == torch.autograd.DeviceType.CPU
               and event.name.startswith(_HOST_LAUNCH_CALLS))
    return kernels, host


@pytest.mark.parametrize("impl", ["eager", "fused", "fused+compiled", "fused+graphs", "fused+graphs+compiled"])
@pytest.mark.parametrize("recipe, batch, cuda_rounds, cpu_rounds", CASES,
                         ids=[f"{c[0]}-b{c[1]}" for c in CASES])
def test_inference(benchmark, recipe, batch, cuda_rounds, cpu_rounds, impl):
    if impl != "eager" and not extension_state().loaded:
        pytest.skip(f"fused ops unavailable: {extension_state().reason}")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    graphs, compiled = "+graphs" in impl, "+compiled" in impl
    if graphs and device == "cpu":
        pytest.skip("CUDA graphs are a CUDA case (on a CPU the static passes run eagerly)")
    if compiled and device == "cpu" and recipe == "real_iisr_x4":
        pytest.skip("the full-size model on a CPU times one round; compiling adds minutes for nothing measured")
    if device == "cpu" and batch > 1 and recipe == "real_iisr_x4":
        pytest.skip("the full-size model at batch 4 is a GPU case (minutes a round on a CPU)")
    model = _model(recipe, device)
    size = model.tokenizer.image_size
    lr = torch.rand(batch, 3, size, size, device=device) * 2 - 1
    dtype = torch.bfloat16 if device == "cuda" else None

    model.generator.release_graphs()  # the model is shared between cases: no capture of another case
    model.generator.compile_small_ops(compiled)

    def run():
        with use_backend(impl.split("+")[0]), torch.autocast(device, dtype=dtype, enabled=dtype is not None):
            model.sample(lr, cuda_graphs=graphs)
        if device == "cuda":
            torch.cuda.synchronize()

    rounds = cuda_rounds if device == "cuda" else cpu_rounds
    warmup = WARMUP_ROUNDS if device == "cuda" or recipe != "real_iisr_x4" else 1
    benchmark.group = f"inference|{recipe}|b{batch}|{size}x{size}|{device}"
    benchmark.extra_info.update({"impl": impl, "batch": batch, "params": model.num_parameters(),
                                 "warmup_rounds": warmup,
                                 "device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu"})
    benchmark.pedantic(run, rounds=rounds, warmup_rounds=warmup, iterations=1)
    benchmark.extra_info["images_per_s"] = batch / benchmark.stats.stats.median
    if device == "cuda":
        kernels, host = _launches(run)
        benchmark.extra_info["kernel_launches"] = kernels
        if host:  # zero where this profiler build records no runtime API events
            benchmark.extra_info["host_launch_calls"] = host
