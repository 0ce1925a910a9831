"""``realiisr benchmark``: every method on every frame of a folder of real pairs (and LR-only frames), scored
alike, with timings, in one table.

A folder holds ``HR/`` and ``LR/`` (pairs by file stem; LR frames without an HR are scored by no-reference metrics
only), as FLIR-IISR's samples do. Per frame and method: aligned and raw PSNR/SSIM and thermal-order accuracy
(:func:`realiisr.evaluation.evaluate.evaluate_images`, the HR registered onto the LR and each method fitted by its
own gain/offset), the no-reference scores of the output (:mod:`realiisr.evaluation.no_reference`), seconds per
frame (wall clock, warm: each method's first frame is run once before timing) and peak memory (the process's
resident high-water mark while the method ran, above what was resident when it started: the activations and
buffers the method needs beyond its loaded weights). A method that fails on a frame is recorded with its error
and the rest go on; a metric that cannot be built is named in the notes with the reason.
"""
from __future__ import annotations

import ctypes
import json
import logging
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

from torch import Tensor

from realiisr.data.io import IMAGE_SUFFIXES, read_frame
from realiisr.evaluation.evaluate import Evaluation, evaluate_images, load_metrics

__all__ = ["BenchmarkResult", "add_sweep", "run_benchmark"]

_LOG = logging.getLogger(__name__)


@dataclass
class BenchmarkResult:
    methods: list[str]
    paired: Evaluation
    unpaired: list[dict] = field(default_factory=list)  # LR-only frames: no-reference scores
    seconds: dict[str, list[float]] = field(default_factory=dict)
    peak_mb: dict[str, float] = field(default_factory=dict)
    failures: list[dict] = field(default_factory=list)
    settings: dict = field(default_factory=dict)
    sweep: list[dict] = field(default_factory=list)  # method, psf, width, psnr_gain, ssim_gain (over bicubic)

    def table(self) -> list[dict]:
        """One row per method: means over the pairs, NR means over the LR-only frames, seconds per frame."""
        means = {row["method"]: row for row in self.paired.means()} if self.paired.rows else {}
        rows = []
        for method in self.methods:
            row = {"method": method, **{k: v for k, v in means.get(method, {}).items() if k not in ("image", "method")}}
            lone = [r for r in self.unpaired if r["method"] == method]
            for key in sorted({k for r in lone for k in r} - {"image", "method"}):
                row[f"{key}_lr_only"] = sum(r[key] for r in lone) / len(lone)
            times = self.seconds.get(method, [])
            row["seconds_per_frame"] = sum(times) / len(times) if times else float("nan")
            row["peak_mb"] = self.peak_mb.get(method, float("nan"))
            row["failed_frames"] = sum(1 for f in self.failures if f["method"] == method)
            rows.append(row)
        return rows

    def markdown(self) -> str:
        table = self.table()
        columns = list(dict.fromkeys(k for r in table for k in r))
        lines = [f"{len({r['image'] for r in self.paired.rows})} pairs, {len({r['image'] for r in self.unpaired})} "
                 "LR-only frames; aligned: HR registered onto the LR, each method's own gain/offset", "",
                 "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        for row in table:
            lines.append("| " + " | ".join(f"{row[c]:.4f}" if isinstance(row.get(c), float) else str(row.get(c, "–"))
                                           for c in columns) + " |")
        if self.sweep:
            widths = list(dict.fromkeys(f"{r['psf']} {r['width']:g}" for r in self.sweep))
            lines += ["", f"Degradation sweep ({self.settings.get('sweep', '')}): aligned PSNR gain over bicubic, dB",
                      "", "| method | " + " | ".join(widths) + " | mean |", "|" + "---|" * (len(widths) + 2)]
            for method in dict.fromkeys(r["method"] for r in self.sweep):
                gains = [r["psnr_gain"] for r in self.sweep if r["method"] == method]
                lines.append(f"| {method} | " + " | ".join(f"{g:+.2f}" for g in gains) + f" | {sum(gains) / len(gains):+.2f} |")
        for failure in self.failures:
            lines.append(f"\n{failure['method']} failed on {failure['image']}: {failure['error']}")
        for name, reason in self.paired.unavailable.items():
            lines.append(f"\n{name}: not reported, {reason}")
        return "\n".join(lines)

    def write(self, out: Path) -> None:
        import csv

        out.mkdir(parents=True, exist_ok=True)
        table = self.table()
        with open(out / "benchmark.csv", "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(dict.fromkeys(k for r in table for k in r)))
            writer.writeheader()
            writer.writerows(table)
        (out / "benchmark.json").write_text(json.dumps({
            "settings": self.settings, "table": table, "rows": self.paired.rows, "lr_only": self.unpaired,
            "seconds": self.seconds, "peak_mb": self.peak_mb, "sweep": self.sweep, "failures": self.failures,
            "alignment": self.paired.alignment}, indent=2))
        (out / "benchmark.md").write_text(self.markdown() + "\n")


def _frames(folder: Path) -> dict[str, Path]:
    return {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES} if folder.is_dir() else {}


def _environment() -> dict:
    import torch

    import realiisr

    return {"realiisr": realiisr.__version__, "torch": torch.__version__, "python": platform.python_version(),
            "machine": platform.machine(), "processor": platform.processor() or platform.machine(),
            "threads": torch.get_num_threads()}


class _PeakMemory:
    """Resident-memory high-water mark of this process over a block, above the resident size at its start
    (Linux: /proc/self/status, reset through /proc/self/clear_refs; NaN elsewhere)."""

    def __enter__(self) -> "_PeakMemory":
        import gc

        gc.collect()
        self.mb = float("nan")
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)  # freed heap back to the system, so the start is what is live
            Path("/proc/self/clear_refs").write_text("5")  # high-water mark := current resident size
            self.start = _status_kb("VmRSS")
        except (OSError, ValueError):
            self.start = None
        return self

    def __exit__(self, *exc: object) -> None:
        if self.start is not None:
            self.mb = (_status_kb("VmHWM") - self.start) / 1024


def _status_kb(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise ValueError(f"/proc/self/status has no {key}")


def run_benchmark(data: Path, methods: dict[str, Callable[[Tensor], Tensor]], *,
                  no_reference: Optional[dict[str, Callable[[Tensor], float]]] = None,
                  unavailable: Optional[dict[str, str]] = None,
                  figures: Optional[Path] = None, progress: bool = True,
                  metric_names: Sequence[str] = ("psnr", "ssim")) -> BenchmarkResult:
    """Score every method of ``methods`` (name → LR → SR callable) on ``data``'s pairs and LR-only frames.

    ``unavailable``: metric → why it is not reported (the no-reference ones that could not be built), for the notes.
    """
    from tqdm import tqdm

    hr_files, lr_files = _frames(data / "HR"), _frames(data / "LR")
    if not lr_files:
        raise ValueError(f"benchmark: {str(data / 'LR')!r} holds no frames (expected DIR/LR and DIR/HR)")
    loaded = load_metrics(metric_names)
    result = BenchmarkResult(list(methods), Evaluation(unavailable={**loaded[1], **(unavailable or {})}),
                             settings={"data": str(data), "methods": list(methods),
                                       "no_reference": sorted(no_reference or {}), **_environment()})
    outputs: dict[str, dict[str, Tensor]] = {name: {} for name in lr_files}
    for method, upscale in methods.items():
        result.seconds[method] = []
        warmed = False
        with _PeakMemory() as peak:
            for name in tqdm(list(lr_files), desc=method, unit="frame", disable=not progress):
                try:
                    lr = read_frame(lr_files[name])
                    if not warmed:
                        upscale(lr)  # first-call costs (weights to the device, allocations) kept out of the timing
                        warmed = True
                    start = time.perf_counter()
                    outputs[name][method] = upscale(lr).clamp(0, 1)
                    result.seconds[method].append(time.perf_counter() - start)
                except Exception as exc:  # a method failing on one frame must not stop the others
                    _LOG.warning("%s failed on %s: %s", method, name, exc)
                    result.failures.append({"method": method, "image": name, "error": f"{type(exc).__name__}: {exc}"})
        result.peak_mb[method] = peak.mb
    for name, done in outputs.items():
        if name in hr_files:
            hr = read_frame(hr_files[name])
            fitting = {m: sr for m, sr in done.items() if sr.shape == hr.shape}
            for method in sorted(set(done) - set(fitting)):
                result.failures.append({"method": method, "image": name,
                                        "error": f"output {tuple(done[method].shape)} is not the HR's {tuple(hr.shape)}"})
            if not fitting:
                continue
            evaluation = evaluate_images([(name, fitting, hr)], align=True, loaded=loaded, no_reference=no_reference)
            result.paired.rows += evaluation.rows
            result.paired.alignment.update(evaluation.alignment)
            if figures is not None:
                from realiisr.evaluation.figures import comparison_figure

                comparison_figure(figures / f"{name}.png", name, {**fitting, "HR": hr})
        else:
            for method, sr in done.items():
                result.unpaired.append({"image": name, "method": method,
                                        **{k: float(fn(sr)) for k, fn in (no_reference or {}).items()}})
    return result


def add_sweep(result: BenchmarkResult, methods: dict[str, Callable[[Tensor], Tensor]], folder: Path, *,
              frames: int = 8, camera: Optional[str] = None) -> None:
    """Every method but bicubic on the degradation sweep of ``folder``'s HR frames (its held-out range where it
    has one): the mean gain over bicubic per blur width, into ``result.sweep``; a failing method is recorded."""
    from realiisr.evaluation.sweep import DEFAULT_CAMERA, run_sweep, sweep_frames

    paths, held_out = sweep_frames(folder, frames)
    result.settings["sweep"] = f"{folder}, {len(paths)} frames{', held-out range' if held_out else ''}"
    for method, upscale in methods.items():
        if method == "bicubic":
            continue
        try:
            sweep = run_sweep(lambda lr: upscale(lr).clamp(0, 1), paths, method=method, held_out=held_out,
                              camera=camera or DEFAULT_CAMERA)
        except Exception as exc:  # one method must not lose the others' sweep
            _LOG.warning("%s failed on the sweep: %s", method, exc)
            result.failures.append({"method": method, "image": "sweep", "error": f"{type(exc).__name__}: {exc}"})
            continue
        result.sweep += [{"method": method, "psf": row["psf"], "width": row["width"], "psnr_gain": row["psnr_gain"],
                          "ssim_gain": row["ssim_gain"]} for row in sweep.table()]
