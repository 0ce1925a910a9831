"""torchrun with two gloo processes on CPU: identical weights on both ranks, equal to one process."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from realiisr.core.weights import load_state_dict_file
from realiisr.training.checkpoint import latest_checkpoint

MICRO = ["tokenizer.patch_nums=[1,2,4]", "generator.patch_nums=[1,2,4]", "generator.context_maps=[4,4]",
         "generator.depth=1"]
# BatchNorm in TSG's fusion normalises per rank on CPU (SyncBatchNorm needs a GPU), so the equivalence
# check swaps in guidance without BatchNorm: the example plugin's edge-only guidance.
EDGE_ONLY = ['guidance={"type": "edge_only", "width": 128, "stem_widths": [16, 32, 64, 128, 128], "num_heads": 2}']


def _run(out, nproc, batch, extra=(), steps=3):
    base = ["-m", "realiisr", "train", "--data", "synthetic:8", "--out", str(out), "--steps", str(steps), "--no-progress",
            f"batch_size={batch}", "lr=0.001", "val_every=100", "save_every=3", "warmup_fraction=0", *MICRO, *EDGE_ONLY,
            *extra]
    if nproc > 1:
        command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc),
                   "--master-port", "29571", *base]
    else:
        command = [sys.executable, *base]
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    env["OMP_NUM_THREADS"] = "1"
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    if nproc > 1 and done.returncode != 0 and "terminate called without an active exception" in done.stderr:
        # gloo's teardown aborted one rank after the run (seen about once in ten runs on a loaded 2-core
        # machine); the run itself is repeated once (from scratch unless it resumes), so a real failure still fails
        if "--resume" not in extra:
            shutil.rmtree(out, ignore_errors=True)
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return load_state_dict_file(latest_checkpoint(out) / "model.safetensors")


@pytest.mark.slow
def test_two_process_gloo_training_equals_one_process(tmp_path):
    pytest.importorskip("realiisr_example_plugin", reason="the check uses the example plugin's guidance")
    two = _run(tmp_path / "ddp", 2, batch=2)
    check = json.loads((tmp_path / "ddp" / "ddp_check.json").read_text())
    assert check == {"world_size": 2, "max_param_diff": 0.0}
    one = _run(tmp_path / "single", 1, batch=4)
    worst = max(float((two[k].double() - one[k].double()).abs().max()) for k in one)
    assert worst < 1e-5, worst


@pytest.mark.slow
def test_two_process_fsdp_training_equals_one_process_and_resumes(tmp_path):
    """FSDP2 on gloo: the gathered checkpoint equals a one-process run, and a sharded run resumes."""
    pytest.importorskip("realiisr_example_plugin", reason="the check uses the example plugin's guidance")
    two = _run(tmp_path / "fsdp", 2, batch=2, extra=["strategy=fsdp"])
    check = json.loads((tmp_path / "fsdp" / "ddp_check.json").read_text())
    assert check["strategy"] == "fsdp" and 0.45 < check["rank0_parameter_fraction"] < 0.55  # each rank holds half
    one = _run(tmp_path / "single", 1, batch=4)
    assert set(two) == set(one)
    worst = max(float((two[k].double() - one[k].double()).abs().max()) for k in one)
    assert worst < 1e-5, worst
    resumed = _run(tmp_path / "fsdp", 2, batch=2, extra=["strategy=fsdp", "--resume"], steps=4)
    assert latest_checkpoint(tmp_path / "fsdp").name == "step-00000004" and set(resumed) == set(one)
