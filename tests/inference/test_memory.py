"""The allocator setting of the ``realiisr`` command. It is process-wide, so every case that applies it runs in
its own interpreter."""
from __future__ import annotations

import platform
import subprocess
import sys
import textwrap

import pytest

from realiisr.inference import memory

glibc_only = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")


def run_python(code: str, **env: str) -> str:
    import os

    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env})
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@glibc_only
def test_kept_memory_stops_the_page_faults_of_repeated_large_tensors():
    out = run_python("""
        import resource, torch
        from realiisr.inference.memory import keep_freed_memory

        def faults_per_clone(x):
            for _ in range(20):  # the first few after the switch still grow the heap
                x.clone()
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            for _ in range(5):
                x.clone()
            return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 5

        x = torch.ones(48 << 20, dtype=torch.uint8)  # above glibc's largest mmap threshold (32 MiB)
        default = faults_per_clone(x)
        applied = keep_freed_memory()
        print(applied, default, faults_per_clone(x))
        """)
    applied, default, kept = out.split()
    assert applied == "True"
    assert float(default) > 10_000  # 48 MiB = 12,288 pages faulted in on every clone
    assert float(kept) < 100


def test_environment_variable_turns_it_off(monkeypatch):
    monkeypatch.setenv(memory.ENV_VAR, "0")
    assert memory.keep_freed_memory_unless_disabled() is False  # and nothing was changed in this process


def test_threshold_out_of_range_is_rejected():
    with pytest.raises(ValueError, match="mmap_threshold_mib"):
        memory.keep_freed_memory(4096)


@glibc_only
def test_the_command_applies_it_and_python_main_does_not():
    code = """
        import sys, realiisr.inference.memory as m, realiisr.cli as cli
        calls = []
        m.keep_freed_memory = lambda *a: calls.append(a) or True
        sys.argv = ["realiisr", "info"]
        {call}
        print("calls", len(calls))
        """
    assert "calls 1" in run_python(code.format(call="cli.console_main()"))
    assert "calls 0" in run_python(code.format(call="cli.main(['info'])"))
    assert "calls 0" in run_python(code.format(call="cli.console_main()"), REALIISR_KEEP_FREED_MEMORY="0")
