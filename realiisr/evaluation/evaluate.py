"""Evaluating super-resolved frames against ground truth, always beside the bicubic baseline.

PSNR and SSIM come from pyiqa (grey channel, the images are grayscale); perceptual metrics (LPIPS, MUSIQ,
NIQE, ...) are used only when pyiqa finds their weights locally, otherwise the report says which metric
could not load and why — never a random-weight score. The physics metrics are the thermal-order accuracy
and the TOC loss at the reference's patch size and threshold.

``align=True`` adds the aligned score that real pairs need (they are two captures: refocused, shifted and
AGC-scaled relative to their LR, which raw PSNR mixes into every method's score): each HR frame is moved
onto the LR's grid by the global similarity (magnification and sub-pixel shift) that best matches the bicubic
baseline, the border that invalidates is dropped, and each method's output is mapped onto that HR by its own
least-squares gain/offset before PSNR, SSIM and thermal-order accuracy (``*_aligned`` columns; the raw
columns stay beside them). ``register=True`` is the older shift-only registration of the raw columns.
"""
from __future__ import annotations

import csv
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence, Union

from torch import Tensor

from realiisr.data.registration import apply_shift, apply_similarity, estimate_shift, estimate_similarity, shift_border
from realiisr.evaluation.metrics import apply_best_gain_offset, thermal_order_accuracy
from realiisr.ops import toc_loss

__all__ = ["Evaluation", "load_metrics", "evaluate_images", "OFFLINE_METRICS"]

_LOG = logging.getLogger(__name__)

#: pyiqa metrics that need no downloaded weights.
OFFLINE_METRICS = ("psnr", "ssim")


def load_metrics(names: Sequence[str], device: str = "cpu", as_loss: bool = False) -> tuple[dict[str, Callable], dict[str, str]]:
    """``(metrics, unavailable)``: pyiqa metrics that loaded, and for the others the reason.
    ``as_loss``: differentiable metrics for training (pyiqa's ``as_loss=True``)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    loaded: dict[str, Callable] = {}
    unavailable: dict[str, str] = {}
    try:
        import pyiqa
    except Exception as exc:
        return {}, {name: f"pyiqa is not installed ({exc}); pip install 'realiisr[metrics]'" for name in names}
    from realiisr.evaluation.pyiqa_weights import missing_weights

    for name in names:
        reason = missing_weights(name)
        if reason is not None:
            unavailable[name] = reason
            continue
        try:
            metric = pyiqa.create_metric(name, device=device, as_loss=as_loss)
        except Exception as exc:
            unavailable[name] = f"pyiqa could not build it ({type(exc).__name__}: {str(exc)[:160]})"
            continue
        # grey frames go in as three equal channels to the perceptual metrics (their networks are RGB)
        loaded[name] = metric if name in OFFLINE_METRICS else _as_rgb(metric)
    return loaded, unavailable


def _as_rgb(metric: Callable) -> Callable:
    def rgb(*frames: Tensor) -> Tensor:
        return metric(*(f.expand(-1, 3, -1, -1) if f.shape[1] == 1 else f for f in frames))

    return rgb


@dataclass
class Evaluation:
    """Per-image rows and per-method means."""

    rows: list[dict] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)
    registration: dict[str, tuple[float, float]] = field(default_factory=dict)  # image → HR shift (dy, dx)
    alignment: dict[str, tuple[float, float, float]] = field(default_factory=dict)  # image → (scale, dy, dx)

    def means(self) -> list[dict]:
        methods = list(dict.fromkeys(r["method"] for r in self.rows))
        out = []
        for method in methods:
            rows = [r for r in self.rows if r["method"] == method]
            keys = [k for k in rows[0] if k not in ("image", "method")]
            out.append({"image": "mean", "method": method,
                        **{k: sum(float(r[k]) for r in rows) / len(rows) for k in keys}})
        return out

    def markdown(self) -> str:
        rows = self.rows + self.means()
        columns = list(dict.fromkeys(k for r in rows for k in r))
        lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        for row in rows:
            cells = [f"{row[c]:.4f}" if isinstance(row.get(c), float) else str(row.get(c, "–")) for c in columns]
            lines.append("| " + " | ".join(cells) + " |")
        for name, reason in self.unavailable.items():
            lines.append(f"\n{name}: not reported, {reason}")
        if self.registration:
            text = ", ".join(f"{n} ({dy:+.2f}, {dx:+.2f})" for n, (dy, dx) in self.registration.items())
            lines.append(f"\nRegistered: each HR moved onto the LR grid by (dy, dx) HR pixels: {text}")
        if self.alignment:
            text = ", ".join(f"{n} (x{s:.4f}, {dy:+.2f}, {dx:+.2f})" for n, (s, dy, dx) in self.alignment.items())
            lines.append("\nAligned (*_aligned columns): each HR magnified and shifted onto the LR grid (scale, dy, dx "
                         f"HR pixels): {text}; each method's output then fitted to it by its own gain/offset")
        return "\n".join(lines)

    def write(self, out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        rows = self.rows + self.means()
        columns = list(dict.fromkeys(k for r in rows for k in r))
        with open(out / "metrics.csv", "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
        (out / "metrics.json").write_text(json.dumps({"rows": self.rows, "means": self.means(),
                                                      "unavailable": self.unavailable,
                                                      "registration": self.registration,
                                                      "alignment": self.alignment}, indent=2))
        (out / "metrics.md").write_text(self.markdown() + "\n")


def evaluate_images(
    items: Sequence[tuple[str, dict[str, Tensor], Tensor]], metric_names: Sequence[str] = OFFLINE_METRICS,
    *, border: int = 0, patch_size: int = 8, threshold: float = 0.1, register: bool = False,
    align: Union[bool, str] = False,
    loaded: Optional[tuple[dict[str, Callable], dict[str, str]]] = None,
    no_reference: Optional[dict[str, Callable[[Tensor], float]]] = None,
) -> Evaluation:
    """``items``: (image name, {method: SR [1, H, W] in [0, 1]}, HR [1, H, W]) → an :class:`Evaluation`.

    ``register``: score the raw columns against the HR shifted onto the bicubic output (``"bicubic"``, else the
    first method). ``align``: add the aligned columns (similarity registration + per-method gain/offset);
    ``align="registered"``: the same columns for an HR already on the LR's grid (synthetic pairs), gain/offset only.
    ``loaded``: what :func:`load_metrics` returned, for callers that score image by image (pyiqa metrics are
    built once instead of per call); ``metric_names`` is then ignored. ``no_reference``: name → score of the SR
    frame alone (NIQE), a column each, on the whole output frame.
    """
    metrics, unavailable = loaded if loaded is not None else load_metrics(metric_names)
    result = Evaluation(unavailable=unavailable)

    def scores(a: Tensor, b: Tensor, crop: int, suffix: str = "") -> dict:
        if crop:
            a, b = a[..., crop:-crop, crop:-crop], b[..., crop:-crop, crop:-crop]
        if suffix:
            a = apply_best_gain_offset(a, b).clamp(0, 1)
        row = {f"{metric}{suffix}": float(fn(a.float(), b.float())) for metric, fn in metrics.items()}
        row[f"order_acc{suffix}"] = float(thermal_order_accuracy(a, b, patch_size, threshold))
        if not suffix:
            row["toc"] = float(toc_loss(a.float(), b.float(), patch_size, threshold))
        return row

    for name, outputs, hr in items:
        for method, sr in outputs.items():
            if sr.shape != hr.shape:
                raise ValueError(f"{name}: {method} output {tuple(sr.shape)} does not match HR {tuple(hr.shape)}")
        anchor = outputs.get("bicubic", next(iter(outputs.values())))
        raw_hr, raw_crop = hr, border
        if register:
            shift = estimate_shift(hr, anchor)
            result.registration[name] = shift
            raw_hr, raw_crop = apply_shift(hr.double(), shift), max(border, shift_border(shift))
        aligned_hr = None
        if align == "registered":
            aligned_hr, aligned_crop = hr.double(), border
        elif align:
            sim = estimate_similarity(hr, anchor)
            result.alignment[name] = (sim.scale, sim.dy, sim.dx)
            aligned_hr, aligned_crop = apply_similarity(hr.double(), sim), max(border, sim.border(tuple(hr.shape[-2:])))
        for method, sr in outputs.items():
            a = sr[None].double().clamp(0, 1)
            row: dict = {"image": name, "method": method, **scores(a, raw_hr[None].double().clamp(0, 1), raw_crop)}
            if aligned_hr is not None:
                row.update(scores(a, aligned_hr[None].clamp(0, 1), aligned_crop, "_aligned"))
            for metric, fn in (no_reference or {}).items():
                row[metric] = float(fn(sr.clamp(0, 1)))
            result.rows.append(row)
    return result
