"""Where one CAC embedding forward+backward spends its time, layer by layer (the model's shape: B 4, L 2240,
V 4096, C 32, r 8), on the GPU if there is one: microseconds per call, 200 calls back to back (launches
pipelined, one sync at the end) and, for the whole step, with a sync after every call; then the GPU time of
each kernel from the profiler.

    python benchmarks/op_overheads.py
"""
from __future__ import annotations

import time

import torch

from realiisr.ops import cac_embedding, extension_state, use_backend
from realiisr.ops.reference import cac_embedding_reference


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def per_call_us(fn, device: torch.device, calls: int = 200, sync_each: bool = False) -> float:
    for _ in range(10):
        fn()
    _sync(device)
    start = time.perf_counter()
    for _ in range(calls):
        fn()
        if sync_each:
            _sync(device)
    _sync(device)
    return (time.perf_counter() - start) / calls * 1e6


def main() -> None:
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    assert extension_state().loaded, extension_state().reason
    gen = torch.Generator().manual_seed(0)
    E, U, V, h = (torch.randn(*s, generator=gen).to(device) for s in ((4096, 32), (4096, 8), (32, 8), (4, 8)))
    gate = torch.tensor([0.3], device=device)
    idx = torch.randint(0, 4096, (4, 2240), generator=gen).to(device)
    leaves = [t.clone().requires_grad_() for t in (E, U, V, h, gate)]
    grad = torch.ones(4, 2240, 32, device=device)
    raw = torch.ops.realiisr

    def step(impl: str):
        def run():
            with use_backend(impl):
                cac_embedding(idx, *leaves).sum().backward()
        return run

    def forward(impl: str, grad_leaves: bool):
        def run():
            with use_backend(impl):
                cac_embedding(idx, *(leaves if grad_leaves else (E, U, V, h, gate)))
        return run

    rows = {
        "aminmax + item (the id check)": lambda: [int(v) for v in torch.aminmax(idx)],
        "raw forward op": lambda: raw.cac_embedding(idx, E, U, V, h, gate),
        "raw backward op": lambda: raw.cac_embedding_backward(grad, idx, E, U, V, h, gate),
        "public forward, fused, no grad": forward("fused", False),
        "public forward, eager, no grad": forward("eager", False),
        "public forward, fused, grad leaves": forward("fused", True),
        "public forward, eager, grad leaves": forward("eager", True),
        "fwd+bwd, fused": step("fused"),
        "fwd+bwd, eager": step("eager"),
    }
    print(f"device: {torch.cuda.get_device_name(0) if device.type == 'cuda' else 'cpu'}, torch {torch.__version__}")
    for name, fn in rows.items():
        print(f"  {name:<40} {per_call_us(fn, device):9.1f} us/call pipelined")
    for impl in ("fused", "eager"):
        print(f"  fwd+bwd, {impl}, sync after each{'':<14} {per_call_us(step(impl), device, sync_each=True):9.1f} us/call")
    if device.type == "cuda":
        for impl in ("fused", "eager"):
            with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
                for _ in range(20):
                    step(impl)()
                _sync(device)
            print(f"GPU time per fwd+bwd, {impl} (profiler, 20 steps):")
            events = sorted(prof.key_averages(), key=lambda e: -e.device_time_total)
            for event in events[:12]:
                print(f"    {event.device_time_total / 20:8.1f} us  {event.count / 20:4.1f}x  {event.key[:90]}")
            print(f"    total {sum(e.device_time_total for e in events) / 20:8.1f} us")
    torch.testing.assert_close(cac_embedding(idx, E, U, V, h, gate), cac_embedding_reference(idx, E, U, V, h, gate))


if __name__ == "__main__":
    main()
