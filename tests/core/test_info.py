"""`realiisr info` and `python -m realiisr info`."""
from __future__ import annotations

import subprocess
import sys

import pytest

from realiisr.cli import main
from realiisr.ops import extension_state


def test_info_lists_versions_ops_registries_and_sources(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("realiisr ")
    assert "torch " in out and "built with CUDA:" in out
    assert "toc_loss" in out
    for kind in ("tokenizer", "codebook", "guidance", "generator", "physics_loss", "recipe"):
        assert f"{kind} registry (entry-point group realiisr." in out
    assert "toc                      builtin (aliases: thermal_order)" in out
    assert "real_iisr_x4" in out and "plugin failures:" in out


def test_info_reports_the_installed_plugin_with_its_version(capsys):
    pytest.importorskip("realiisr_example_plugin", reason="pip install -e plugins/realiisr-example-plugin")
    main(["info"])
    out = capsys.readouterr().out
    assert "realiisr_example_plugin:edge_only" in out and "plugin realiisr-example-plugin==0.2.0" in out


def test_info_reports_cuda_build_without_device():
    state = extension_state()
    if not state.loaded:
        pytest.skip(f"extension not loaded: {state.reason}")
    done = subprocess.run([sys.executable, "-m", "realiisr", "info"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    if state.with_cuda:
        import torch

        expected = "no device" if not torch.cuda.is_available() else torch.cuda.get_device_name(0)
        assert "built with CUDA: yes" in done.stdout and expected in done.stdout
    else:
        assert "built with CUDA: no" in done.stdout
