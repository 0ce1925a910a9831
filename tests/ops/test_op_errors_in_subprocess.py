"""A bad call into a fused kernel raises a RuntimeError that names the problem, on every device, and never
takes the process down. Each case runs in its own interpreter so that a crash fails one test, not the run."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch

from realiisr.ops import extension_state

pytestmark = pytest.mark.skipif(not extension_state().loaded, reason=f"fused ops unavailable: {extension_state().reason}")
# CUDA cases are listed everywhere and skipped with a reason where no GPU exists (CI never has one)
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"))]

SETUP = """
import torch, realiisr.ops
assert realiisr.ops.extension_state().loaded
dev = {device!r}
E, U, V, h = (torch.randn(*s, device=dev) for s in ((12, 16), (12, 4), (16, 4), (2, 4)))
gate = torch.tensor([0.3], device=dev)
"""
CASES = {  # name: (statement, message the RuntimeError must carry)
    "codebook_bad_V": ("torch.ops.realiisr.cac_codebook(E, U, V.t().contiguous(), h, gate)", "V must be [C=16, r=4]"),
    "codebook_bad_V_grad": ("torch.ops.realiisr.cac_codebook(E.requires_grad_(), U, V.t().contiguous(), h, gate)",
                            "V must be [C=16, r=4]"),
    "embedding_bad_ids": ("torch.ops.realiisr.cac_embedding(torch.full((2, 3), 12, device=dev), E, U, V, h, gate)",
                          "token ids must lie in [0, 12)"),
    "toc_bad_patch": ("torch.ops.realiisr.toc_loss_forward(torch.rand(1, 1, 8, 8, device=dev), "
                      "torch.rand(1, 1, 8, 8, device=dev), 16, 0.1)", "patch"),
    "group_norm_silu_bad_groups": ("torch.ops.realiisr.group_norm_silu_(torch.rand(2, 6, 4, 4, device=dev), 4, "
                                   "None, None, 1e-6)", "num_groups=4 must be positive and divide the 6 channels"),
}
CPU_ONLY = {"group_norm_silu_bad_groups"}  # an inference kernel with no CUDA version


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", list(CASES))
def test_bad_call_raises_and_the_process_survives(device, case):
    if device != "cpu" and case in CPU_ONLY:
        pytest.skip(f"{case}: no {device} kernel")
    statement, message = CASES[case]
    code = SETUP.format(device=device) + textwrap.dedent(f"""
        try:
            {statement}
        except RuntimeError as exc:
            print("RAISED:", str(exc).splitlines()[0])
        else:
            print("NO ERROR")
        """)
    done = subprocess.run([sys.executable, "-X", "faulthandler", "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, f"{case} on {device} crashed (exit {done.returncode}):\n{done.stderr[-3000:]}"
    assert "RAISED:" in done.stdout and message in done.stdout, done.stdout + done.stderr[-2000:]
