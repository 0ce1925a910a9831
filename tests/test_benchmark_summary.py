"""``benchmarks/summarize.py``: ratios within one run, one dated table per device."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "summarize.py"


@pytest.fixture(scope="module")
def summarize():
    if not SCRIPT.is_file():
        pytest.skip("benchmarks/ is not beside the tests (installed wheel)")
    spec = importlib.util.spec_from_file_location("bench_summarize", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(path, date, machine, cases):
    benches = [{"group": "inference|full|b1", "name": f"test[{impl}]", "stats": {"median": median},
                "extra_info": {"impl": impl, **extra}} for impl, median, extra in cases]
    path.write_text(json.dumps({"datetime": date, "machine_info": machine, "benchmarks": benches}))
    return str(path)


def test_markdown_tables_per_device_with_ratios_from_one_run(summarize, tmp_path):
    gpu = _run(tmp_path / "gpu.json", "2026-11-28T10:00:00", {"torch": "2.11", "cuda_device": "NVIDIA H200"},
               [("eager", 0.30, {"images_per_s": 3.33, "kernel_launches": 15267}),
                ("fused+graphs", 0.15, {"images_per_s": 6.67, "kernel_launches": 15000, "host_launch_calls": 400})])
    cpu = _run(tmp_path / "cpu.json", "2026-11-27T10:00:00",
               {"torch": "2.15", "torch_cpu_capability": "AVX2", "cpu": {"brand_raw": "AMD EPYC", "count": 2}},
               [("fused", 2.0, {})])
    text = "\n".join(summarize.markdown([gpu, cpu]))
    assert text.index("## 2026-11-27, AMD EPYC, 2 cores (AVX2), torch 2.15") < text.index("## 2026-11-28, NVIDIA H200, torch 2.11")
    assert "| inference · full · b1 | fused+graphs | 150.000 ms | 2.00× | 6.67 | 1.5e+04 | 400 |  |" in text
    assert "| inference · full · b1 | fused | 2000.000 ms |  |  |  |  |  |" in text  # no eager in that run: no ratio
    lines = summarize.summarize([gpu])
    assert lines[0] == "inference|full|b1" and "eager/this  2.00x" in lines[2]
