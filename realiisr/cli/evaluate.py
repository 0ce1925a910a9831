"""``realiisr evaluate``: metrics of SR frames against HR, with the bicubic baseline beside them.

    realiisr evaluate --sr SR_DIR --hr HR_DIR [--lr LR_DIR]      # existing outputs (LR: for bicubic)
    realiisr evaluate --data PAIRS_DIR [--recipe R] [--weights W] # runs the model on PAIRS_DIR/LR first
    realiisr evaluate --sweep HR_DIR [--recipe R] [--weights W]    # degradation sweep on HR frames
    realiisr evaluate --clip CLIP [--clip-is-hr]                   # flicker of a clip against bicubic's
    realiisr evaluate --synthetic-clip HR_FRAME                    # 30 moving frames: flicker and PSNR

Frames pair by file stem. Writes metrics.csv / .json / .md to ``--out`` and figures to ``--figures``; the sweep
(:mod:`realiisr.evaluation.sweep`: fixed Gaussian/disk blurs plus camera processing, gain over bicubic per width,
on HR_DIR's held-out HIT-UAV range where it has one) writes sweep.csv / .json / .md; clips
(:mod:`realiisr.video.evaluate`) write clip.json / .md.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from realiisr.cli._clip_options import add_clip_options

__all__ = ["add_parser"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("evaluate", help="PSNR/SSIM/thermal-order metrics with the bicubic baseline")
    parser.add_argument("--sr", type=Path, help="folder of super-resolved frames")
    parser.add_argument("--hr", type=Path, help="folder of ground-truth frames")
    parser.add_argument("--lr", type=Path, help="folder of LR frames (default: LR/ beside --hr)")
    parser.add_argument("--data", type=Path, help="folder with HR/ and LR/: run the model first")
    parser.add_argument("--sweep", type=Path, help="folder of HR frames: the degradation sweep (e.g. thermal-frames/hit-uav)")
    parser.add_argument("--sweep-frames", type=int, default=8, help="with --sweep: frames used (default 8)")
    parser.add_argument("--sweep-crop", type=int, default=256, help="with --sweep: HR centre-crop side (default 256)")
    parser.add_argument("--sweep-blurs", default="",
                        help="with --sweep: PSF:width list, e.g. gaussian:2,disk:3 (default: Gaussian 1,2,3,5,7 and disk 3,5)")
    parser.add_argument("--sweep-camera", default="flir_iisr_camera",
                        help="with --sweep or --synthetic-clip: the camera processing after blur and area, the LR side "
                             "of a degradation preset or YAML file (as train --degradation; default flir_iisr_camera)")
    parser.add_argument("--without", choices=("guidance", "tokens"), default=None,
                        help="with --data or --sweep: the model with a component taken away (guidance: TSG sees a flat "
                             "frame; tokens: the generator's posterior replaced by the uniform one), to measure what it adds")
    parser.add_argument("--sweep-scale", type=int, choices=(2, 4, 8), default=None,
                        help="with --sweep: the output scale (default: the model's; see realiisr upscale --scale)")
    parser.add_argument("--clip", help="a clip (video, frame folder or glob, multi-page TIFF): flicker of the "
                        "model's frames and of bicubic's")
    parser.add_argument("--clip-is-hr", action="store_true",
                        help="with --clip: the clip is HR; its frames area-averaged x4 are the LR, PSNR against it")
    parser.add_argument("--synthetic-clip", type=Path, metavar="HR_FRAME",
                        help="a 30-frame clip of sub-pixel camera motion over HR_FRAME (Gaussian 2.5 HR px, camera "
                        "noise per frame): flicker and PSNR against the true frames")
    parser.add_argument("--fit-niqe", type=Path, nargs="+", metavar="HR_DIR",
                        help="fit a NIQE pristine model on the sharp blocks of these frames, written to --out as "
                        "niqe_model.npz (the shipped thermal NIQE: RoadScene, HIT-UAV, TNO, DifIISR frames)")
    parser.add_argument("--niqe-model", type=Path, default=None,
                        help="the standard NIQE model file (e.g. ../shared/data/metrics/niqe_pris_params.npz): adds "
                        "a NIQE column; thermal NIQE (the shipped model) is always reported")
    add_clip_options(parser, "with --clip/--synthetic-clip")
    parser.add_argument("--recipe", default=None, help="with --data or --sweep (default: the recipe that ships trained weights)")
    parser.add_argument("--weights", type=Path)
    parser.add_argument("--tta", type=int, choices=(1, 2, 4, 8), default=1,
                        help="with --data, --sweep or a clip: the model's test-time self-ensemble over N views (upscale --tta)")
    parser.add_argument("--dtype", choices=("auto", "float32", "bfloat16", "float16"), default="auto",
                        help="with --data: the model's compute precision, as for upscale")
    parser.add_argument("--out", type=Path, default=Path("evaluation"))
    parser.add_argument("--figures", type=Path, help="write comparison figures here")
    parser.add_argument("--subset", type=Path, help="file with one image name per line")
    parser.add_argument("--metrics", default="psnr,ssim", help="pyiqa metric names, comma separated")
    parser.add_argument("--border", type=int, default=0, help="pixels cropped at each border before measuring")
    parser.add_argument("--align", action="store_true",
                        help="add the aligned score for real pairs: each HR magnified and shifted onto the LR grid, "
                             "each method fitted to it by its own gain/offset (raw columns stay)")
    parser.add_argument("--register", action="store_true",
                        help="shift-only registration of the raw columns (older; --align is the honest score)")
    parser.set_defaults(run=_run)


def _stems(folder: Path) -> dict[str, Path]:
    from realiisr.data.io import IMAGE_SUFFIXES

    if not folder.is_dir():
        raise ValueError(f"folder {str(folder)!r} does not exist")
    return {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}


def _sweep(args: argparse.Namespace, model, method: str) -> int:
    from realiisr.evaluation.sweep import SWEEP_BLURS, parse_blurs, run_sweep, sweep_frames
    from realiisr.inference import Upscaler

    frames, held_out = sweep_frames(args.sweep, args.sweep_frames)
    blurs = parse_blurs(args.sweep_blurs) if args.sweep_blurs else SWEEP_BLURS
    scale = args.sweep_scale or model.scale
    result = run_sweep(Upscaler(model, dtype=args.dtype, scale=scale, tta=args.tta), frames, method=method, scale=scale,
                       crop=args.sweep_crop, blurs=blurs, metric_names=[m for m in args.metrics.split(",") if m],
                       held_out=held_out, camera=args.sweep_camera)
    result.write(args.out)
    print(result.markdown())
    print(f"wrote {args.out}/sweep.csv, sweep.json, sweep.md")
    return 0


def _clip(args: argparse.Namespace, model, method: str) -> int:
    import json

    from realiisr.data.io import read_frame
    from realiisr.video.evaluate import clip_frames, frame_upscaler, score_clip, shrink_clip, synthetic_clip
    from realiisr.video.io import open_clip
    from realiisr.video.upscale import blend_strength

    if args.synthetic_clip is not None:
        lr, hr = synthetic_clip(read_frame(args.synthetic_clip), camera=args.sweep_camera)
        source = str(args.synthetic_clip)
    else:
        frames = clip_frames(open_clip(args.clip))
        lr, hr = shrink_clip(frames) if args.clip_is_hr else (frames, None)
        source = args.clip
    blend = blend_strength(args.stabilise, args.temporal)
    upscale = frame_upscaler(model, dtype=args.dtype, tta=args.tta, back_projection=args.back_projection)
    scores = score_clip(upscale, lr, hr, method=method, stabilise=blend,
                        temporal=args.temporal, fuse_outputs=args.fuse_outputs)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "clip.json").write_text(json.dumps({"source": source, "method": method, "temporal": args.temporal,
                                                 "stabilise": blend, "fuse_outputs": args.fuse_outputs,
                                                 "back_projection": args.back_projection,
                                                 **scores.__dict__}, indent=2))
    text = f"{source}: {scores.frames} frames, {scores.seconds_per_frame:.2f} s a frame\n\n{scores.markdown(method)}"
    (args.out / "clip.md").write_text(text + "\n")
    print(text)
    print(f"wrote {args.out}/clip.json, clip.md")
    return 0


def _fit_niqe(args: argparse.Namespace) -> int:
    from realiisr.evaluation.niqe import fit_folder

    model = fit_folder(args.fit_niqe)
    args.out.mkdir(parents=True, exist_ok=True)
    model.save(args.out / "niqe_model.npz")
    print(f"{model.source}; wrote {args.out}/niqe_model.npz")
    return 0


def _run(args: argparse.Namespace) -> int:
    import contextlib

    with contextlib.ExitStack() as stack:
        return _evaluate(args, stack)


def _evaluate(args: argparse.Namespace, stack) -> int:
    import realiisr
    from realiisr.data.io import pil_bicubic, read_frame
    from realiisr.evaluation.evaluate import evaluate_images
    from realiisr.evaluation.figures import comparison_figure
    from realiisr.evaluation.niqe import no_reference_scores
    from realiisr.inference import Upscaler

    if args.fit_niqe:
        return _fit_niqe(args)
    if args.data is not None or args.sweep is not None or args.clip is not None or args.synthetic_clip is not None:
        from realiisr.core.recipes import recipe_for_weights

        recipe = recipe_for_weights(args.recipe, args.weights)
        model = realiisr.build(recipe, pretrained=args.weights is None, weights=args.weights).eval()
        method = args.recipe or recipe.name
        if args.without is not None:
            from realiisr.evaluation.component_ablation import without

            stack.enter_context(without(model, args.without))
            method = f"{method} without {args.without}"
        if args.tta > 1:
            method = f"{method} tta {args.tta}"
        if args.sweep is not None:
            return _sweep(args, model, method)
        if args.clip is not None or args.synthetic_clip is not None:
            from realiisr.video.upscale import window_recipe_for

            named = args.recipe is not None or args.weights is not None or args.without is not None
            window = None if named else window_recipe_for(recipe.name, args.temporal)
            if window is not None:  # as `upscale` runs clips: the default recipe's window model
                model, method = realiisr.build(window, pretrained=True).eval(), window
            return _clip(args, model, method)
        hr_dir, lr_dir, sr_dir = args.data / "HR", args.data / "LR", None
    elif args.sr is not None and args.hr is not None:
        if args.without is not None:
            raise ValueError("--without takes a component from the model: use it with --data or --sweep")
        hr_dir, sr_dir, model, method = args.hr, args.sr, None, "sr"
        lr_dir = args.lr or args.hr.parent / "LR"
    else:
        raise ValueError("pass --sr and --hr, --data, --sweep, --clip or --synthetic-clip")
    hr_files, lr_files = _stems(hr_dir), _stems(lr_dir)
    names = sorted(set(hr_files) & set(lr_files))
    if args.subset is not None:
        wanted = [line.strip() for line in args.subset.read_text().splitlines() if line.strip()]
        missing = sorted(set(wanted) - set(names))
        if missing:
            raise ValueError(f"--subset names without an LR/HR pair: {missing}")
        names = [n for n in names if n in set(wanted)]
    sr_files = _stems(sr_dir) if sr_dir is not None else {}
    items = []
    for name in names:
        hr, lr = read_frame(hr_files[name]), read_frame(lr_files[name])
        scale = hr.shape[-1] // lr.shape[-1]
        outputs = {"bicubic": pil_bicubic(lr, hr.shape[-2], hr.shape[-1], eight_bit=True).clamp(0, 1)}
        if model is not None:
            outputs[method] = Upscaler(model, dtype=args.dtype, tta=args.tta)(lr)
            from realiisr.data.io import write_frame

            write_frame(args.out / "sr" / f"{name}.png", outputs[method])
        elif name in sr_files:
            outputs[method] = read_frame(sr_files[name])
        else:
            raise ValueError(f"no SR frame for {name!r} in {str(sr_dir)!r}")
        if scale < 1:
            raise ValueError(f"{name}: LR is larger than HR")
        items.append((name, outputs, hr))
        if args.figures is not None:
            comparison_figure(args.figures / f"{name}.png", name, {"LR (bicubic)": outputs["bicubic"], method: outputs[method], "HR": hr})
    if not items:
        raise ValueError(f"no LR/HR pairs between {str(lr_dir)!r} and {str(hr_dir)!r}")
    result = evaluate_images(items, [m for m in args.metrics.split(",") if m], border=args.border,
                             register=args.register, align=args.align,
                             no_reference=no_reference_scores(args.niqe_model))
    result.write(args.out)
    print(result.markdown())
    print(f"wrote {args.out}/metrics.csv, metrics.json, metrics.md" + (f" and figures in {args.figures}" if args.figures else ""))
    return 0
