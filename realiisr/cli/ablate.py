"""``realiisr ablate``: train and evaluate recipe variants with the same data, seed and budget."""
from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_parser"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("ablate", help="train and compare recipe variants (the paper's ablation table)")
    parser.add_argument("--recipe", default="real_iisr_x4_tiny")
    parser.add_argument("--data", action="append", required=True, help="as for `realiisr train`")
    parser.add_argument("--holdout", default="", help="pair names to evaluate on (default: the training data)")
    parser.add_argument("--variants", default="full,no_tsg,no_cac,no_toc", help="builtin variants, comma separated")
    parser.add_argument("--variant", action="append", default=[], help="extra variant name=key:value[,key:value]")
    parser.add_argument("--tokenizer", type=Path, help="trained tokenizer weights shared by every variant")
    parser.add_argument("--pairs", type=Path, help="real pairs (DIR/LR, DIR/HR) to score whole frames on, aligned")
    parser.add_argument("--sweep", type=Path, help="HR frames: score each variant on the degradation sweep too")
    parser.add_argument("--sweep-frames", type=int, default=8, help="with --sweep: frames used (default 8)")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("overrides", nargs="*", help="key=value training options (batch_size=4) or recipe keys")
    parser.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    import realiisr
    from realiisr.data.sources import build_datasets
    from realiisr.core.recipes import resolve_recipe
    from realiisr.experiments.ablation import BUILTIN_VARIANTS, parse_variant, run_ablation
    from realiisr.training.loop import TrainConfig
    from realiisr.training.overrides import split_overrides

    options, recipe_overrides = split_overrides(args.overrides)
    recipe = resolve_recipe(args.recipe, recipe_overrides)
    variants = {}
    for name in [v for v in args.variants.split(",") if v]:
        if name not in BUILTIN_VARIANTS:
            raise ValueError(f"unknown variant {name!r}; builtin: {sorted(BUILTIN_VARIANTS)} (or --variant name=key:value)")
        variants[name] = BUILTIN_VARIANTS[name](recipe)
    for text in args.variant:
        name, overrides = parse_variant(text)
        variants[name] = overrides
    config = TrainConfig(**{"val_every": 10**9, "save_every": args.steps, **options, "stage": "generator",
                            "steps": args.steps, "seed": args.seed})
    size = realiisr.build(recipe, device="meta").tokenizer.image_size
    holdout = [n for n in args.holdout.split(",") if n]
    train_data, val_data = build_datasets(args.data, size, recipe.scale, args.seed, holdout, repeats=8)
    rows = run_ablation(recipe, variants, train_data, val_data or train_data, config, args.out,
                        tokenizer=args.tokenizer, pairs=args.pairs, sweep=args.sweep, sweep_frames=args.sweep_frames)
    print((args.out / "ablation.md").read_text())
    return 1 if any("error" in r for r in rows) else 0
