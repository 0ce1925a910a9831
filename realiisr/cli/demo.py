"""``realiisr demo``: the main job on the bundled real samples (or generated thermal frames).

Upscales every LR image ×4 with the first recipe that ships trained weights, writes the results, comparison
figures (LR / SR / HR with a line profile) and a metrics table (PSNR/SSIM through pyiqa, thermal-order accuracy
and the TOC loss, grey channel) with the bicubic baseline, and prints where everything went. Each real pair is
marked "held out" or "trained on" from the weights' model card (``meta.training_holdout`` of the recipe); only
held-out pairs say anything about quality. Without shipped weights the table holds the bicubic baseline only.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Optional

import torch

__all__ = ["add_parser", "run_demo"]

_LOG = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("demo", help="upscale the bundled samples and write outputs and a metrics table")
    parser.add_argument("--out", type=Path, default=Path("demo-output"), help="output folder (default: demo-output)")
    parser.add_argument("--samples", type=Path, default=None, help="folder with pairs/ and frames/ (default: ../shared)")
    parser.add_argument("--seed", type=int, default=0, help="seed for generated frames")
    parser.set_defaults(run=lambda args: run_demo(args.out, args.samples, args.seed))


def _inputs(samples: Optional[Path], seed: int) -> tuple[str, list[tuple[str, torch.Tensor, Optional[torch.Tensor]]]]:
    from realiisr.data.io import read_frame
    from realiisr.data.samples import find_samples_dir, sample_pairs

    root = samples or find_samples_dir()
    items: list[tuple[str, torch.Tensor, Optional[torch.Tensor]]] = []
    if root is not None and root.is_dir():
        for group in ("pairs", "frames"):
            for pair in sample_pairs(root / group):
                hr = read_frame(pair.hr) if pair.hr is not None else None
                items.append((f"{group}/{pair.name}", read_frame(pair.lr), hr))
    if items:
        return f"real infrared samples in {root}", items
    from realiisr.data.degradations import default_pipeline
    from realiisr.data.synthetic import thermal_frame

    generator = torch.Generator().manual_seed(seed)
    degrade = default_pipeline(4)
    for index in range(3):
        hr = thermal_frame(192, 256, generator=generator)[0]
        items.append((f"generated/frame_{index}", degrade(hr, generator), hr))
    return "generated thermal frames (no ../shared/data/flir-iisr-samples found)", items


def _model():
    """The first recipe that ships weights, built with them (or None)."""
    import realiisr

    for name in realiisr.list_recipes(pretrained=True):
        return name, realiisr.build(name, pretrained=True).eval()
    return None, None


def _split(image: str, hr: Optional[torch.Tensor], holdout: Optional[set[str]]) -> str:
    """What a row can say: no ground truth, generated, a real pair (no model), or held out / trained on."""
    if hr is None:
        return "no HR"
    if image.startswith("generated/"):
        return "generated"
    if holdout is None:
        return "real pair"
    return "held out" if image.rsplit("/", 1)[-1] in holdout else "trained on"


def run_demo(out: Path, samples: Optional[Path] = None, seed: int = 0) -> int:
    from realiisr.data.io import pil_bicubic, write_frame
    from realiisr.data.registration import apply_shift, estimate_shift, shift_border
    from realiisr.evaluation.evaluate import load_metrics
    from realiisr.evaluation.figures import comparison_figure
    from realiisr.evaluation.metrics import thermal_order_accuracy
    from realiisr.inference import Upscaler
    from realiisr.ops import toc_loss

    source, items = _inputs(samples, seed)
    print(f"realiisr demo: {len(items)} images from {source}")
    name, model = _model()
    if model is None:
        print("no trained weights yet: no recipe ships weights, so this run shows the bicubic baseline only")
        holdout: Optional[set[str]] = None
    else:
        holdout = set(model.recipe.meta.get("training_holdout", []))
        print(f"model: {name} with its shipped weights ({model.recipe.weights.file}); "
              f"real pairs it was not trained on: {', '.join(sorted(holdout)) or 'none'}")
    metrics, unavailable = load_metrics(["psnr", "ssim"])
    for metric, reason in unavailable.items():
        _LOG.warning("%s skipped: %s", metric, reason)
    rows = []
    for image, lr, hr in items:
        outputs = {"bicubic": pil_bicubic(lr, lr.shape[-2] * 4, lr.shape[-1] * 4, eight_bit=True).clamp(0, 1)}
        if model is not None:
            outputs[name] = Upscaler(model)(lr)
        split = _split(image, hr, holdout)
        registered = None  # real pairs sit whole HR pixels off their LR: also score against the HR moved back
        if hr is not None and hr.shape[-2:] == outputs["bicubic"].shape[-2:] and "psnr" in metrics:
            shift = estimate_shift(hr, outputs["bicubic"])
            edge = shift_border(shift)
            registered = (apply_shift(hr.double(), shift).float()[None, :, edge:-edge, edge:-edge], edge)
        for method, sr in outputs.items():
            write_frame(out / method / f"{image}.png", sr)
            row = {"image": image, "split": split, "method": method,
                   "size": f"{lr.shape[-1]}x{lr.shape[-2]} -> {sr.shape[-1]}x{sr.shape[-2]}"}
            if hr is not None and hr.shape[-2:] == sr.shape[-2:]:
                sr4, hr4 = sr[None], hr[None]
                row.update({k.upper(): f"{float(m(sr4, hr4)):.3f}" for k, m in metrics.items()})
                row["order acc"] = f"{float(thermal_order_accuracy(sr4, hr4)):.4f}"
                row["TOC"] = f"{float(toc_loss(sr4, hr4)):.4f}"
                if registered is not None:
                    target, edge = registered
                    row["PSNR registered"] = f"{float(metrics['psnr'](sr4[..., edge:-edge, edge:-edge], target)):.3f}"
            rows.append(row)
        panels = {"LR (bicubic)": outputs["bicubic"]}
        if model is not None:
            panels[name] = outputs[name]
        if hr is not None:
            panels["HR"] = hr
        comparison_figure(out / "figures" / f"{image}.png", image, panels)
    table = _markdown(rows)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.md").write_text(f"# realiisr demo\n\nInputs: {source}\n\n{table}\n")
    print(table)
    if any("PSNR registered" in row for row in rows):
        print("PSNR registered: against the HR moved onto the LR grid by its global sub-pixel shift "
              "(`realiisr evaluate --register`; real pairs are offset by whole HR pixels)")
    print(f"outputs: {out.resolve()}/<method>/, figures: {(out / 'figures').resolve()}/, "
          f"table: {(out / 'metrics.md').resolve()}")
    return 0


def _markdown(rows: list[dict[str, str]]) -> str:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(row.get(c, "–") for c in columns) + " |" for row in rows]
    return "\n".join(lines)
