"""Training-step speed and peak memory of a recipe (generator stage: the tokenizer frozen), for the GPU runs.

    python benchmarks/train_step.py --recipe real_iisr_x4 --batch 4 [--checkpointing] [--find-max-batch]

Runs warm-up steps, then times ``--steps`` optimiser steps (AdamW, fused on CUDA; bf16 autocast on CUDA) and
prints one JSON line per configuration: steps/s, samples/s, peak memory (CUDA) and the configuration.
``--find-max-batch`` doubles the batch until a step runs out of memory and reports the largest that ran.
"""
from __future__ import annotations

import argparse
import json
import time

import torch

import realiisr
from realiisr.training.stages import prepare_stage
from realiisr.training.optim import build_optimizer


def measure(recipe: str, batch: int, steps: int, checkpointing: bool, device: str, attention: str) -> dict:
    import os

    os.environ["REALIISR_ATTENTION"] = attention
    torch.manual_seed(0)
    model = realiisr.build(recipe, device=device, **{"generator.activation_checkpointing": checkpointing}).train()
    params = prepare_stage(model, "generator")
    optimizer = build_optimizer(model, 1e-4)
    size = model.tokenizer.image_size
    lr = torch.rand(batch, 3, size, size, device=device) * 2 - 1
    hr = torch.rand(batch, 3, size, size, device=device) * 2 - 1
    amp = torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda")

    def step():
        optimizer.zero_grad(set_to_none=True)
        with amp:
            loss = model.training_losses(lr, hr)["total"]
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 2.0)
        optimizer.step()

    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    for _ in range(2):
        step()
    sync()
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    elapsed = time.perf_counter() - start
    out = {"recipe": recipe, "batch": batch, "checkpointing": checkpointing, "attention": attention or "auto",
           "device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
           "steps_per_s": steps / elapsed, "samples_per_s": steps * batch / elapsed}
    if device == "cuda":
        out["peak_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipe", default="real_iisr_x4")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--checkpointing", action="store_true")
    parser.add_argument("--attention", default="", help="'' (auto) or 'flex' (REALIISR_ATTENTION)")
    parser.add_argument("--find-max-batch", action="store_true")
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if not args.find_max_batch:
        print(json.dumps(measure(args.recipe, args.batch, args.steps, args.checkpointing, device, args.attention)))
        return
    batch, largest = args.batch, None
    while True:
        try:
            result = measure(args.recipe, batch, 2, args.checkpointing, device, args.attention)
        except torch.OutOfMemoryError:
            break
        largest = result
        print(json.dumps(result), flush=True)
        batch *= 2
        if device == "cuda":
            torch.cuda.empty_cache()
    print(json.dumps({"largest_batch": largest["batch"] if largest else None, "checkpointing": args.checkpointing}))


if __name__ == "__main__":
    main()
