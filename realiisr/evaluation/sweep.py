"""The degradation sweep: HR frames of a held-out source, degraded at fixed blur widths, gain over bicubic per width.

Real LR pairs are few and every setting chosen on them overstates; the sweep is the evaluation that cannot be
tuned on. Each HR frame (a centre crop) is blurred by a fixed PSF — Gaussian σ ∈ {1, 2, 3, 5, 7} or disk
r ∈ {3, 5} HR px — area-averaged ×scale, then run through the camera's LR-side processing of the
``flir_iisr_camera`` preset (local AGC offset field, shot/read noise, row/column stripes, 8-bit storage; or another
degradation's LR side, ``--sweep-camera``: e.g. real noise patches), drawn
once per frame and reused for every width so that the widths differ by their blur only. Each method is scored
against the HR after its own least-squares gain/offset (as the aligned score of real pairs, with no registration:
the pair is synthetic), PSNR and SSIM (pyiqa) and thermal-order accuracy beside bicubic.

The frames default to the held-out HIT-UAV range of :mod:`realiisr.data.splits`; a model trained on them (the
shipped weights were: every HIT-UAV frame) scores optimistically, which the report says.
"""
from __future__ import annotations

import csv
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from realiisr.data.degradations import DegradationPipeline, _blur, _disk_kernel, _gaussian_kernel, load_steps
from realiisr.data.io import IMAGE_SUFFIXES, pil_bicubic, read_frame
from realiisr.data.splits import sweep_holdout_frames
from realiisr.evaluation.evaluate import OFFLINE_METRICS, evaluate_images, load_metrics

__all__ = ["SWEEP_BLURS", "DEFAULT_CAMERA", "SweepResult", "parse_blurs", "sweep_frames", "camera_steps_of",
           "degrade_at", "run_sweep"]

_LOG = logging.getLogger(__name__)

#: (PSF, width in HR px) of the sweep, near-sharp to heavy defocus.
SWEEP_BLURS: tuple[tuple[str, float], ...] = (
    ("gaussian", 1.0), ("gaussian", 2.0), ("gaussian", 3.0), ("gaussian", 5.0), ("gaussian", 7.0),
    ("disk", 3.0), ("disk", 5.0))

#: The camera processing of the sweep's LR unless told otherwise: the LR side of this preset.
DEFAULT_CAMERA = "flir_iisr_camera"


def parse_blurs(text: str) -> list[tuple[str, float]]:
    """``"gaussian:2,disk:3"`` → ``[("gaussian", 2.0), ("disk", 3.0)]``."""
    blurs = []
    for item in (part.strip() for part in text.split(",") if part.strip()):
        psf, _, width = item.partition(":")
        try:
            blurs.append((psf, float(width)))
        except ValueError:
            raise ValueError(f"sweep blur {item!r}: expected PSF:width, e.g. gaussian:2 or disk:3") from None
        if psf not in ("gaussian", "disk") or blurs[-1][1] <= 0:
            raise ValueError(f"sweep blur {item!r}: the PSF is 'gaussian' or 'disk' and the width positive")
    return blurs


def sweep_frames(folder: Path, limit: int = 8) -> tuple[list[Path], bool]:
    """``(frames, held_out)``: up to ``limit`` frames of ``folder`` spread evenly over name order — its held-out
    HIT-UAV range where it has one (``held_out`` True), otherwise every image in it."""
    if not folder.is_dir():
        raise ValueError(f"--sweep {str(folder)!r}: not a folder of HR frames")
    images = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    held = sweep_holdout_frames(images)
    chosen = held or images
    if not chosen:
        raise ValueError(f"--sweep {str(folder)!r} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    if len(chosen) > limit:
        step = len(chosen) / limit
        chosen = [chosen[int(i * step)] for i in range(limit)]
    return chosen, bool(held)


def camera_steps_of(camera: str, scale: int) -> list[dict]:
    """The LR-side steps of a degradation (a preset name or a YAML file of steps, as ``realiisr train
    --degradation`` takes): everything after its down-sampling."""
    steps = load_steps(camera, scale)  # specs only: a real_noise bank is read once, by the caller's pipeline
    index = next(i for i, s in enumerate(steps) if s["type"] == "downsample")
    return steps[index + 1:]


def degrade_at(hr: Tensor, psf: str, width: float, scale: int, seed: int,
               camera: Union[str, DegradationPipeline] = DEFAULT_CAMERA) -> Tensor:
    """``hr`` ``[1, H, W]`` blurred by the fixed ``psf`` of ``width``, area-averaged ×``scale`` and processed
    like camera LR (``camera``: the LR side of that degradation, or a pipeline of LR-side steps), the processing
    drawn from ``seed`` (the same draw for every width)."""
    if psf not in ("gaussian", "disk"):
        raise ValueError(f"sweep PSF {psf!r}: expected 'gaussian' or 'disk'")
    kernel = _gaussian_kernel(width) if psf == "gaussian" else _disk_kernel(width)
    lr = F.avg_pool2d(_blur(hr.float(), kernel)[None], scale)[0]
    pipeline = camera if isinstance(camera, DegradationPipeline) else DegradationPipeline(camera_steps_of(camera, scale))
    return pipeline(lr, torch.Generator().manual_seed(seed))


def _centre_crop(frame: Tensor, crop: int, multiple: int) -> Tensor:
    h, w = frame.shape[-2:]
    ch, cw = min(crop, h) // multiple * multiple, min(crop, w) // multiple * multiple
    top, left = (h - ch) // 2, (w - cw) // 2
    return frame[..., top:top + ch, left:left + cw]


@dataclass
class SweepResult:
    """Per (blur, frame, method) rows and the per-blur table of means with the gain over bicubic."""

    method: str
    frames: list[str]
    held_out: bool
    rows: list[dict] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)
    camera: str = DEFAULT_CAMERA

    def table(self) -> list[dict]:
        out = []
        for psf, width in dict.fromkeys((r["psf"], r["width"]) for r in self.rows):
            rows = [r for r in self.rows if (r["psf"], r["width"]) == (psf, width)]
            line: dict = {"psf": psf, "width": width}
            keys = [k for k in rows[0] if k.endswith("_aligned")]
            for key in keys:
                mean = {m: sum(r[key] for r in rows if r["method"] == m) / len(self.frames)
                        for m in ("bicubic", self.method)}
                name = key.removesuffix("_aligned")
                line[f"{name}_bicubic"], line[name] = mean["bicubic"], mean[self.method]
                line[f"{name}_gain"] = mean[self.method] - mean["bicubic"]
            out.append(line)
        return out

    def markdown(self) -> str:
        table = self.table()
        columns = list(table[0]) if table else []
        lines = [f"{self.method} − bicubic over {len(self.frames)} frames "
                 f"({'held-out range' if self.held_out else 'frames not checked against training'}); "
                 f"camera processing: the LR side of {self.camera}; gain/offset-fitted scores", "",
                 "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        for row in table:
            lines.append("| " + " | ".join(f"{v:+.4f}" if k.endswith("_gain") else f"{v:.4f}" if isinstance(v, float)
                                           and k != "width" else str(v) for k, v in row.items()) + " |")
        for name, reason in self.unavailable.items():
            lines.append(f"\n{name}: not reported, {reason}")
        return "\n".join(lines)

    def write(self, out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        table = self.table()
        with open(out / "sweep.csv", "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(table[0]))
            writer.writeheader()
            writer.writerows(table)
        (out / "sweep.json").write_text(json.dumps({"method": self.method, "frames": self.frames,
                                                    "held_out": self.held_out, "camera": self.camera, "table": table, "rows": self.rows,
                                                    "unavailable": self.unavailable}, indent=2))
        (out / "sweep.md").write_text(self.markdown() + "\n")


def run_sweep(upscale: Callable[[Tensor], Tensor], frames: Sequence[Path], *, method: str = "model", scale: int = 4,
              crop: int = 256, multiple: int = 4, blurs: Sequence[tuple[str, float]] = SWEEP_BLURS,
              metric_names: Sequence[str] = OFFLINE_METRICS, border: int = 8, seed: int = 0,
              held_out: bool = True, camera: str = DEFAULT_CAMERA) -> SweepResult:
    """Run ``upscale`` (``[1, h, w]`` LR → ``[1, h·scale, w·scale]``) over ``frames`` × ``blurs``.

    ``crop``: side of the HR centre crop (a multiple of ``multiple``·``scale``); ``border``: HR pixels left out of
    the scores at each edge; frame ``i`` draws its camera processing from ``seed + i``; ``camera``: whose LR
    side that processing is (a preset name or a degradation YAML file)."""
    if not frames:
        raise ValueError("sweep: no frames")
    loaded = load_metrics(metric_names)
    pipeline = DegradationPipeline(camera_steps_of(camera, scale))
    result = SweepResult(method=method, frames=[p.name for p in frames], held_out=held_out,
                         unavailable=dict(loaded[1]), camera=str(camera))
    for index, path in enumerate(frames):
        hr = _centre_crop(read_frame(path), crop, multiple * scale)
        for psf, width in blurs:
            lr = degrade_at(hr, psf, width, scale, seed + index, pipeline)
            outputs = {"bicubic": pil_bicubic(lr, hr.shape[-2], hr.shape[-1], eight_bit=True).clamp(0, 1),
                       method: upscale(lr)}
            evaluation = evaluate_images([(path.stem, outputs, hr)], border=border, align="registered",
                                         loaded=loaded)
            for row in evaluation.rows:
                result.rows.append({"psf": psf, "width": width, **row})
            _LOG.info("sweep %s %s %.1f: %s", path.name, psf, width,
                      {r["method"]: round(r["psnr_aligned"], 2) for r in evaluation.rows if "psnr_aligned" in r})
    return result
