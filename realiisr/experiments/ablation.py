"""Ablations: variants of one recipe trained with the same data, seed and budget, evaluated side by side.

A variant is a set of recipe overrides, so any registered or plugin component can be one
(``name=guidance:my_dist:edge_only``). The builtin variants follow the paper's table:
``full``, ``no_tsg`` (LR tokens only), ``no_cac`` (static codebook), ``no_toc`` (no thermal-order loss),
``diffusion`` (a diffusion generator, from a plugin that registers ``diffusion``).

Each variant is scored on its validation crops (``psnr`` ... ``images_per_s``), and, given ``pairs`` and
``sweep``, the way the benchmark scores a shipped model: the aligned PSNR/SSIM and thermal-order accuracy of
whole real pairs through the tiled upscaler (``pairs_*``), and the mean gain over bicubic on the degradation
sweep (``sweep_gain``, and per width in ``ablation.json``). Every variant writes ``NAME/recipe.yaml`` beside its
checkpoints, and a finished variant is not trained again (its last checkpoint is loaded), so a run can be
re-scored or extended by starting it again.
"""
from __future__ import annotations

import csv
import json
import logging
import time
from pathlib import Path
from typing import Any, Callable, Optional

import torch

import realiisr
from realiisr.core.recipes import Recipe
from realiisr.evaluation.evaluate import evaluate_images
from realiisr.training.loop import TrainConfig, collate_samples, train

__all__ = ["BUILTIN_VARIANTS", "parse_variant", "run_ablation"]

_LOG = logging.getLogger(__name__)


def _no_tsg(recipe: Recipe) -> dict[str, Any]:
    g = recipe.guidance.kwargs
    side = recipe.generator.kwargs["context_maps"][0]
    return {"guidance": {"type": "lr_only", "width": g.get("width"), "stem_widths": g.get("stem_widths")},
            "generator.context_maps": [side]}


def _no_cac(recipe: Recipe) -> dict[str, Any]:
    c = recipe.codebook.kwargs
    return {"codebook": {"type": "vq", "vocab_size": c.get("vocab_size"), "dim": c.get("dim")}}


BUILTIN_VARIANTS: dict[str, Callable[[Recipe], dict[str, Any]]] = {
    "full": lambda r: {},
    "no_tsg": _no_tsg,
    "no_cac": _no_cac,
    "no_toc": lambda r: {"losses.toc": None},
    "diffusion": lambda r: {"generator": "diffusion"},
}


def parse_variant(text: str) -> tuple[str, dict[str, Any]]:
    """``name=key:value[,key:value]`` → (name, overrides); a value may itself hold ``dist:name``.

    A bare component key (``guidance:edge_only``) swaps the type and keeps the recipe's kwargs for it, so a
    plugin component that takes the same arguments (widths, heads) fits the variant without repeating them.
    """
    if "=" not in text:
        raise ValueError(f"--variant {text!r} must look like name=key:value")
    name, spec = text.split("=", 1)
    overrides = {}
    for item in spec.split(","):
        key, _, value = item.partition(":")
        if not value:
            raise ValueError(f"--variant {text!r}: {item!r} is not key:value")
        if key in ("tokenizer", "codebook", "guidance", "generator"):
            key = f"{key}.type"
        overrides[key] = value
    return name, overrides


def _load_tokenizer(model, path: Path) -> None:
    from realiisr.core.weights import fit_problems, load_state_dict_file

    state = {k: v for k, v in load_state_dict_file(path).items()
             if k.startswith("tokenizer.") or k == "codebook.embedding.weight"}
    own = {k: v for k, v in model.state_dict().items() if k in state or k.startswith("tokenizer.")}
    problems = fit_problems(own, state)
    if problems:
        raise ValueError(f"tokenizer weights {path} do not fit: " + "; ".join(problems))
    model.load_state_dict(state, strict=False)


@torch.no_grad()
def _evaluate(model, val_data, limit: int) -> tuple[dict[str, float], float]:
    model.eval()
    batch = collate_samples([val_data[(0, i)] for i in range(min(limit, len(val_data)))])
    start = time.perf_counter()
    sr = model.sample(batch["lr"], batch["label"])
    per_image = (time.perf_counter() - start) / len(sr)
    items = [(name, {"model": s.mean(0, keepdim=True), "bicubic": ((lr + 1) / 2).mean(0, keepdim=True)},
              ((hr + 1) / 2).mean(0, keepdim=True)) for name, s, lr, hr in zip(batch["name"], sr, batch["lr"], batch["hr"])]
    result = evaluate_images(items)
    means = {m["method"]: m for m in result.means()}
    return means, per_image


def _score_whole_frames(model, pairs: Optional[Path], sweep: Optional[Path], sweep_frames: int) -> dict[str, Any]:
    """The model through the tiled upscaler, as users run it: real pairs (aligned) and the sweep's gains."""
    from realiisr.evaluation.benchmark import run_benchmark
    from realiisr.evaluation.sweep import run_sweep
    from realiisr.evaluation.sweep import sweep_frames as pick_frames
    from realiisr.inference import Upscaler
    from realiisr.methods import resolve_method

    model.eval()
    upscaler = Upscaler(model, dtype="auto")
    methods = {"bicubic": resolve_method("bicubic"), "model": lambda lr: upscaler(lr).clamp(0, 1)}
    scores: dict[str, Any] = {}
    if pairs is not None:
        result = run_benchmark(pairs, methods, progress=False)
        means = {row["method"]: row for row in result.paired.means()}
        for method in methods:
            scores[method] = {f"pairs_{k}": means[method][k] for k in ("psnr_aligned", "ssim_aligned", "order_acc_aligned")}
    if sweep is not None:
        paths, held_out = pick_frames(sweep, sweep_frames)
        table = run_sweep(methods["model"], paths, method="model", held_out=held_out).table()
        gains = {f"{r['psf']} {r['width']:g}": r["psnr_gain"] for r in table}
        scores.setdefault("model", {}).update({"sweep_gain": sum(gains.values()) / len(gains), "sweep": gains})
    return scores


def run_ablation(
    recipe: Recipe, variants: dict[str, dict[str, Any]], train_data, val_data, config: TrainConfig, out: Path, *,
    tokenizer: Optional[Path] = None, eval_images: int = 8, pairs: Optional[Path] = None,
    sweep: Optional[Path] = None, sweep_frames: int = 8,
) -> list[dict[str, Any]]:
    """Train (or, when finished before, load) and evaluate every variant; write ``ablation.csv``, ``.md``,
    ``.json`` and ``ablation.png``. ``pairs``/``sweep``: also score whole real pairs and the degradation sweep."""
    rows: list[dict[str, Any]] = []
    bicubic: Optional[dict[str, Any]] = None
    for name, overrides in variants.items():
        try:
            torch.manual_seed(config.seed)
            model = realiisr.build(recipe, overrides=overrides)
            if tokenizer is not None:
                _load_tokenizer(model, tokenizer)
            (out / name).mkdir(parents=True, exist_ok=True)
            model.recipe.to_yaml(out / name / "recipe.yaml")
            started = time.perf_counter()
            train(model, train_data, config, out / name, resume=True, progress=False)
            train_seconds = time.perf_counter() - started
            means, seconds = _evaluate(model, val_data, eval_images)
            whole = _score_whole_frames(model, pairs, sweep, sweep_frames) if pairs or sweep else {}
        except Exception as exc:  # one broken variant (a missing plugin, say) must not lose the others
            _LOG.warning("variant %s failed: %s", name, exc)
            rows.append({"variant": name, "error": f"{type(exc).__name__}: {exc}"})
            continue
        bicubic = {**means["bicubic"], **whole.get("bicubic", {})}
        rows.append({"variant": name, "psnr": means["model"].get("psnr"), "ssim": means["model"].get("ssim"),
                     "order_acc": means["model"]["order_acc"], "toc": means["model"]["toc"],
                     **whole.get("model", {}), "params": model.num_parameters(), "images_per_s": 1 / seconds,
                     "train_s_this_run": train_seconds})
    if bicubic is not None:
        rows.insert(0, {"variant": "bicubic", "psnr": bicubic.get("psnr"), "ssim": bicubic.get("ssim"),
                        "order_acc": bicubic["order_acc"], "toc": bicubic["toc"],
                        **{k: v for k, v in bicubic.items() if k.startswith("pairs_")}})
    _write(rows, out)
    return rows


def _write(rows: list[dict[str, Any]], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    columns = ["variant", "psnr", "ssim", "order_acc", "toc", "pairs_psnr_aligned", "pairs_ssim_aligned",
               "pairs_order_acc_aligned", "sweep_gain", "params", "images_per_s", "error"]
    columns = [c for c in columns if any(c in r for r in rows)]
    (out / "ablation.json").write_text(json.dumps(rows, indent=2))
    with open(out / "ablation.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, restval="", extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)

    def cell(value: Any) -> str:
        return f"{value:.4f}" if isinstance(value, float) else ("–" if value in (None, "") else str(value))

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in columns) + " |" for r in rows]
    (out / "ablation.md").write_text("\n".join(lines) + "\n")
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    ok = [r for r in rows if "error" not in r]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for ax, key in zip(axes, ("psnr", "order_acc")):
        ax.bar([r["variant"] for r in ok], [r.get(key) or 0 for r in ok], color="tab:orange")
        ax.set_title(key)
        ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    fig.savefig(out / "ablation.png", dpi=90)
    plt.close(fig)
