"""``realiisr train`` and ``realiisr train-tokenizer``.

Data arguments (repeatable ``--data``): a folder with ``HR/`` and ``LR/`` (real pairs, matched by name), a
folder of HR frames (degraded on the fly; ``DIR@2`` shrinks them first), a dataset root above such folders, a
packed-crops ``.npz`` (``realiisr pack-frames``) or ``synthetic:N`` (procedurally generated thermal scenes).
``--holdout NAME,...`` (or ``'*'``) keeps those pairs out of training and validates on them. ``key=value`` arguments set
training options (``batch_size=4``) or, when they are not one, recipe keys (``generator.depth=2``).
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import yaml

__all__ = ["add_parser"]

_LOG = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    for command, stage in (("train", "generator"), ("train-tokenizer", "tokenizer")):
        parser = sub.add_parser(command, help=f"train the {stage} stage of a recipe")
        parser.add_argument("--recipe", default="real_iisr_x4_tiny", help="recipe name or YAML (default real_iisr_x4_tiny)")
        parser.add_argument("--data", action="append", required=True, help="pairs folder, frames folder or synthetic:N")
        parser.add_argument("--holdout", default="", help="comma-separated pair names kept for validation ('*': all)")
        parser.add_argument("--degradation", default="flir_iisr",
                            help="degradation of HR frames: a preset (flir_iisr, flir_iisr_camera, flir_iisr_agc, default) "
                                 "or a YAML file of steps (e.g. with real_noise; docs/training.md)")
        parser.add_argument("--contrast", type=float, default=0.3,
                            help="shared LR/HR contrast augmentation of degraded frames, ±fraction (default 0.3)")
        parser.add_argument("--out", type=Path, required=True, help="run folder (checkpoints, metrics.csv, config)")
        parser.add_argument("--config", type=Path, help="YAML with training options and recipe overrides")
        parser.add_argument("--steps", type=int, help="number of optimiser steps")
        parser.add_argument("--init", type=Path, help="model.safetensors to start from (e.g. the tokenizer stage's)")
        parser.add_argument("--init-drop-decoder-levels", type=int, default=0, metavar="N",
                            help="with --init: leave out the full decoder's finest N levels, to start a recipe with "
                            "tokenizer.decoder_shuffle_levels=N from it (realiisr.training.surgery)")
        parser.add_argument("--resume", action="store_true", help="continue from the run folder's latest checkpoint")
        parser.add_argument("--repeats", type=int, default=8, help="crops per HR frame or real pair per epoch")
        parser.add_argument("--register-pairs", action="store_true",
                            help="move each real pair's HR onto its LR grid first (global sub-pixel shift)")
        if stage == "generator":
            parser.add_argument("--temporal", type=int, default=0, metavar="N",
                                help="train the window model of `upscale --temporal N`: each HR crop becomes a clip of "
                                     "2N+1 moving looks, degraded one by one and fused onto the centre look "
                                     "(realiisr.video.window_data); 0 (default): single frames")
            parser.add_argument("--back-projection", type=int, default=0, metavar="PASSES",
                                help="with --temporal: back-project each fused window onto its LR looks in PASSES "
                                     "passes, as `upscale --temporal` does (0, the default: the fused bicubics)")
        parser.add_argument("--no-progress", action="store_true")
        parser.add_argument("overrides", nargs="*", help="key=value training options or recipe keys")
        parser.set_defaults(run=lambda args, stage=stage: _run(args, stage))


def _run(args: argparse.Namespace, stage: str) -> int:
    import realiisr
    from realiisr.core.weights import load_state_dict_file
    from realiisr.data.sources import build_datasets
    from realiisr.training.loop import TrainConfig, train
    from realiisr.training.overrides import split_overrides

    train_options, recipe_overrides = split_overrides(args.overrides, args.config)
    defaults = {"lr": 2e-4} if stage == "tokenizer" else {}
    config = TrainConfig(**{**defaults, **train_options, "stage": stage})
    if args.steps is not None:
        config.steps = args.steps
    import torch

    torch.manual_seed(config.seed)  # the initial weights are part of a reproducible run
    if args.init_drop_decoder_levels and args.init is None:
        raise ValueError("--init-drop-decoder-levels changes the weights of --init, which was not given")
    if config.distill_decoder and not args.init_drop_decoder_levels:
        raise ValueError("distill_decoder=true teaches a lighter decoder the --init model's full one: "
                         "give --init and --init-drop-decoder-levels")
    model = realiisr.build(args.recipe, overrides=recipe_overrides)
    teacher = None
    if args.init is not None:
        state = load_state_dict_file(args.init)
        if config.distill_decoder:
            teacher = _teacher_tokenizer(model, state, args.init_drop_decoder_levels)
        if args.init_drop_decoder_levels:
            from realiisr.training.surgery import drop_finest_decoder_levels

            state = drop_finest_decoder_levels(state, args.init_drop_decoder_levels)
        own = model.state_dict()
        missing = sorted(set(own) - set(state))
        if missing and stage == "tokenizer":
            raise ValueError(f"--init {args.init} lacks {missing[:5]}")
        unexpected = sorted(set(state) - set(own))
        if unexpected:
            raise ValueError(f"--init {args.init} has keys the recipe does not: {unexpected[:5]}")
        model.load_state_dict(state, strict=not missing)
        _LOG.info("initialised from %s (%d tensors)", args.init, len(state))
    crop = model.tokenizer.image_size
    holdout = [n for n in args.holdout.split(",") if n]
    extra = {}
    if getattr(args, "temporal", 0):
        import functools

        from realiisr.video.window_data import WindowDegradedDataset

        extra["frames_dataset"] = functools.partial(WindowDegradedDataset, radius=args.temporal,
                                                    back_projection=args.back_projection)
    train_data, val_data = build_datasets(args.data, crop, model.scale, config.seed, holdout, args.repeats,
                                          register=args.register_pairs, degradation=args.degradation,
                                          contrast=args.contrast, **extra)
    if train_data is None:
        raise ValueError(f"--data {args.data}: every pair is held out and no HR frames were given; nothing to train on")
    if val_data is None:
        val_data = train_data
    args.out.mkdir(parents=True, exist_ok=True)
    if getattr(args, "temporal", 0) and args.back_projection:  # clips give the weights what they trained on
        model.recipe = model.recipe.replace(**{"meta.window_back_projection": args.back_projection})
    model.recipe.to_yaml(args.out / "recipe.yaml")  # what `realiisr upscale --recipe` loads the weights with
    (args.out / "run.yaml").write_text(yaml.safe_dump({
        "command": stage, "recipe": model.recipe.to_dict(), "train": config.to_dict(),
        "data": args.data, "holdout": holdout, "degradation": args.degradation, "contrast": args.contrast,
        "temporal": getattr(args, "temporal", 0), "back_projection": getattr(args, "back_projection", 0),
        "init": str(args.init) if args.init else None, "init_drop_decoder_levels": args.init_drop_decoder_levels,
    }, sort_keys=False))
    metrics = train(model, train_data, config, args.out, val_data=val_data, resume=args.resume,
                    progress=not args.no_progress, teacher=teacher)
    print(json.dumps({k: round(v, 5) if isinstance(v, float) else v for k, v in metrics.items()}))
    return 0


def _teacher_tokenizer(model, state: dict, dropped: int):
    """The --init model's tokenizer with its full decoder (``dropped`` levels more than ``model``'s)."""
    import realiisr

    levels = model.tokenizer.decoder.shuffle_levels - dropped
    teacher = realiisr.build(model.recipe, overrides={"tokenizer.decoder_shuffle_levels": levels})
    teacher.load_state_dict(state)  # strict: the teacher is exactly the --init model
    return teacher.tokenizer
