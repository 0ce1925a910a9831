"""``realiisr upscale INPUT... -o OUT``: super-resolve thermal frames of any size, keeping their bit depth.

Frames go through :func:`realiisr.inference.images.upscale_image`, as :meth:`RealIISR.upscale` does: 8-bit
frames on the fixed [0, 255] range; 16-bit (radiometric) frames by ``--normalize``: ``minmax`` (default) maps
each frame's own [min, max] to [0, 1] for the model and the result back through the same linear mapping;
``fixed`` uses [0, 65535]. A file that fails is reported and
the others continue; the exit status is 1 if any failed.
"""
from __future__ import annotations

import argparse
import glob
import logging
import sys
from pathlib import Path

__all__ = ["add_parser", "collect_inputs"]

_LOG = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("upscale", help="super-resolve thermal frames (files, folders, globs)")
    parser.add_argument("inputs", nargs="+", help="image files, folders or glob patterns")
    parser.add_argument("-o", "--out", type=Path, required=True, help="output folder")
    parser.add_argument("--recipe", default=None,
                        help="recipe name or YAML, e.g. a run's recipe.yaml (default: the recipe that ships weights)")
    parser.add_argument("--weights", type=Path, help="safetensors weights (default: the recipe's shipped weights)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", choices=("auto", "float32", "bfloat16", "float16"), default="auto",
                        help="compute precision of the model (autocast); auto: bfloat16 where the device has it "
                        "natively (CUDA, CPUs with AVX512-BF16 or AMX: ~1.6x faster), else float32")
    parser.add_argument("--cuda-graphs", action="store_true",
                        help="replay the generator's per-scale passes from CUDA graphs, captured once per tile batch "
                        "(CUDA devices; fewer kernel launches per tile)")
    parser.add_argument("--compile", action="store_true",
                        help="compile the generator's small ops with torch.compile: the first frame pays the "
                        "compilation (~15-30 s, needs a C++ compiler on CPUs), later ones run ~10 %% faster")
    parser.add_argument("--overlap", type=int, default=8, help="tile overlap in LR pixels")
    parser.add_argument("--batch-size", type=int, default=32, help="tiles per forward pass (halved on CUDA out-of-memory)")
    parser.add_argument("--seed", type=int, default=None, help="seed for top-k/top-p sampling")
    parser.add_argument("--cfg", type=float, default=None,
                        help="classifier-free guidance strength (default: the recipe's; 1 for the reference's recipes, "
                        "0 for the shipped one, where guidance moved no score by 0.01 dB and cost half the generation)")
    parser.add_argument("--top-k", type=int, default=1)
    parser.add_argument("--top-p", type=float, default=0.75)
    parser.add_argument("--normalize", choices=("minmax", "fixed"), default="minmax", help="16-bit frames only")
    parser.add_argument("--color-fix", choices=("adain", "wavelet", "none"), default=None,
                        help="grey-level correction against the upsampled LR (default: the recipe's; the reference "
                        "applies adain)")
    parser.set_defaults(run=_run)


def collect_inputs(items: list[str]) -> list[Path]:
    from realiisr.data.io import IMAGE_SUFFIXES

    found: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            found += sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        elif any(ch in item for ch in "*?["):
            found += sorted(Path(p) for p in glob.glob(item))
        else:
            found.append(path)
    return found


def _run(args: argparse.Namespace) -> int:
    import torch
    from tqdm import tqdm

    import realiisr
    from realiisr.data.io import read_image
    from realiisr.inference.images import upscale_image

    from realiisr.core.recipes import RecipeError, recipe_for_weights

    try:
        recipe = recipe_for_weights(args.recipe, args.weights)
    except RecipeError as exc:
        print(f"realiisr upscale: {exc}", file=sys.stderr)
        return 2
    if args.cuda_graphs and not str(args.device).startswith("cuda"):
        print(f"realiisr upscale: --cuda-graphs needs a CUDA --device, got {args.device!r}", file=sys.stderr)
        return 2
    model = realiisr.build(recipe, pretrained=args.weights is None, weights=args.weights, device=args.device).eval()
    if args.compile:
        if not hasattr(model.generator, "compile_small_ops"):
            print(f"realiisr upscale: --compile: generator {type(model.generator).__name__} has no compiled form",
                  file=sys.stderr)
            return 2
        model.generator.compile_small_ops()
    inputs = collect_inputs(args.inputs)
    failures = 0
    for path in tqdm(inputs, desc="upscale", unit="frame", disable=len(inputs) < 2):
        try:
            result = upscale_image(model, read_image(path), normalize=args.normalize, overlap=args.overlap,
                                   batch_size=args.batch_size, cfg=args.cfg, top_k=args.top_k, top_p=args.top_p,
                                   seed=args.seed, color_fix=args.color_fix, dtype=args.dtype,
                                   cuda_graphs=args.cuda_graphs)
            args.out.mkdir(parents=True, exist_ok=True)
            result.save(args.out / path.name)
        except (ValueError, OSError, RuntimeError) as exc:
            failures += 1
            print(f"realiisr upscale: {path}: {exc}", file=sys.stderr)
            if isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower():
                torch.cuda.empty_cache()
    done = len(inputs) - failures
    print(f"upscaled {done}/{len(inputs)} frames into {args.out}")
    return 1 if failures else 0
