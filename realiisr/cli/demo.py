"""``realiisr demo``: the main job on the bundled real samples (or generated thermal frames).

Upscales every LR image ×4 with the first recipe that ships trained weights, writes the results, comparison
figures (LR / SR / HR with a line profile) and a metrics table (PSNR/SSIM through pyiqa, thermal-order accuracy,
the TOC loss, thermal NIQE and BRISQUE, grey channel) with bicubic, Lanczos and every installed plugin baseline
(``realiisr.methods`` plugins: Real-ESRGAN, RealSR and SPAN from ``plugins/realiisr-ncnn-baselines``) beside it,
and prints where everything went. Each real pair is
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
    parser.add_argument("--no-baselines", action="store_true",
                        help="leave out the plugin baselines (Real-ESRGAN, RealSR, SPAN: the slow part of the demo)")
    parser.set_defaults(run=lambda args: run_demo(args.out, args.samples, args.seed, not args.no_baselines))


def _baselines() -> dict:
    """Every plugin method that can run here (its weights installed), by name; the others are named and skipped."""
    from realiisr.methods import METHODS, resolve_method

    found = {}
    for method in METHODS.names():
        if method in ("bicubic", "lanczos"):
            continue
        try:
            found[method] = resolve_method(method)
        except Exception as exc:  # a plugin whose wheel is absent must not stop the demo
            print(f"baseline {method} left out: {exc}")
    return found


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
    from realiisr.data.degradations import preset_pipeline
    from realiisr.data.synthetic import thermal_frame

    generator = torch.Generator().manual_seed(seed)
    degrade = preset_pipeline("flir_iisr", 4)
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


def run_demo(out: Path, samples: Optional[Path] = None, seed: int = 0, baselines: bool = True) -> int:
    from realiisr.data.io import pil_bicubic, write_frame
    from realiisr.evaluation.evaluate import OFFLINE_METRICS, evaluate_images, load_metrics
    from realiisr.evaluation.figures import comparison_figure
    from realiisr.evaluation.no_reference import no_reference_metrics
    from realiisr.inference import Upscaler
    from realiisr.methods import resolve_method

    source, items = _inputs(samples, seed)
    print(f"realiisr demo: {len(items)} images from {source}")
    name, model = _model()
    if model is None:
        print("no trained weights: no recipe ships weights, so this run shows the bicubic baseline only")
        holdout: Optional[set[str]] = None
    else:
        holdout = set(model.recipe.meta.get("training_holdout", []))
        print(f"model: {name} with its shipped weights ({model.recipe.weights.file}); "
              f"real pairs it was not trained on: {', '.join(sorted(holdout)) or 'none'}")
    rows = []
    loaded = load_metrics(OFFLINE_METRICS)
    no_reference, _ = no_reference_metrics(learned=())  # thermal NIQE, and BRISQUE where its model is installed
    lanczos = resolve_method("lanczos")
    others = _baselines() if baselines else {}
    if others:
        print(f"baselines: {', '.join(others)} (the plugins' weights, on ncnn's CPU path)")

    for image, lr, hr in items:
        outputs = {"bicubic": pil_bicubic(lr, lr.shape[-2] * 4, lr.shape[-1] * 4, eight_bit=True).clamp(0, 1),
                   "lanczos": lanczos(lr)}
        outputs.update({method: upscale(lr) for method, upscale in others.items()})
        if model is not None:
            outputs[name] = Upscaler(model)(lr)
        split = _split(image, hr, holdout)
        for method, sr in outputs.items():
            write_frame(out / method / f"{image}.png", sr)
        scored = {}
        if hr is not None and hr.shape[-2:] == outputs["bicubic"].shape[-2:]:
            # real pairs are two captures: the aligned columns take out magnification, shift and AGC
            evaluation = evaluate_images([(image, outputs, hr)], align=split != "generated", loaded=loaded,
                                         no_reference=no_reference)
            scored = {r["method"]: r for r in evaluation.rows}
        else:  # an LR-only frame: the no-reference score alone
            scored = {method: {name: fn(sr) for name, fn in no_reference.items()} for method, sr in outputs.items()}
        for method, sr in outputs.items():
            row = {"image": image, "split": split, "method": method,
                   "size": f"{lr.shape[-1]}x{lr.shape[-2]} -> {sr.shape[-1]}x{sr.shape[-2]}"}
            for key, label in _COLUMNS:
                if key in scored.get(method, {}):
                    value = scored[method][key]
                    row[label] = "–" if value != value else f"{value:.4f}" if "acc" in key or key == "toc" else f"{value:.3f}"
            rows.append(row)
        panels = {"LR (bicubic)": outputs["bicubic"]}
        if model is not None:
            panels[name] = outputs[name]
        if hr is not None:
            panels["HR"] = hr
        comparison_figure(out / "figures" / f"{image}.png", image, panels)
    table = _markdown(rows) + _means(rows)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.md").write_text(f"# realiisr demo\n\nInputs: {source}\n\n{table}\n")
    print(table)
    if any("PSNR aligned" in row for row in rows):
        print("aligned: against the HR magnified and shifted onto the LR grid, each method fitted to it by its own "
              "gain/offset (`realiisr evaluate --align`); raw: the HR as stored")
    print(f"outputs: {out.resolve()}/<method>/, figures: {(out / 'figures').resolve()}/, "
          f"table: {(out / 'metrics.md').resolve()}")
    return 0


_COLUMNS = (("psnr", "PSNR raw"), ("ssim", "SSIM raw"), ("psnr_aligned", "PSNR aligned"),
            ("ssim_aligned", "SSIM aligned"), ("order_acc_aligned", "order acc aligned"), ("order_acc", "order acc raw"),
            ("toc", "TOC"), ("niqe_thermal", "thermal NIQE"), ("brisque", "BRISQUE"))


def _means(rows: list[dict[str, str]]) -> str:
    """Per split and method, the mean of each score (held-out pairs are what says anything about quality)."""
    groups: dict[tuple[str, str], list[dict[str, str]]] = {}
    for row in rows:
        if "PSNR raw" in row or "thermal NIQE" in row:
            groups.setdefault((row["split"], row["method"]), []).append(row)
    if not groups:
        return ""
    labels = [label for _, label in _COLUMNS if any(label in r for g in groups.values() for r in g)]
    lines = ["", "", "Means:", "", "| split | method | images | " + " | ".join(labels) + " |", "|---|---|---|" + "---|" * len(labels)]
    for (split, method), group in groups.items():
        cells = [f"{sum(float(r[label]) for r in group) / len(group):.4f}"
                 if all(r.get(label, "–") != "–" for r in group) else "–" for label in labels]
        lines.append(f"| {split} | {method} | {len(group)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _markdown(rows: list[dict[str, str]]) -> str:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(row.get(c, "–") for c in columns) + " |" for row in rows]
    return "\n".join(lines)
