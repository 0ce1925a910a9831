"""``realiisr upscale INPUT... -o OUT``: super-resolve thermal frames of any size, keeping their bit depth.

Frames go through :func:`realiisr.inference.images.upscale_image`, as :meth:`RealIISR.upscale` does: 8-bit
frames on the fixed [0, 255] range; pseudo-colour frames through their palette (``--palette``: detected, named,
a colour-bar image, or ``none`` for the luminance) and back into it; 16-bit and float-temperature (radiometric)
frames by ``--normalize``: ``sequence`` (default) maps the [min, max] over all of this run's radiometric inputs
to [0, 1], so every frame of a sequence shares one mapping, ``minmax`` each frame's own, ``fixed`` [0, 65535],
``--range LOW:HIGH`` a given one; their output's block means equal the input (``--no-radiometric`` turns that
off). A file that fails is reported and the others continue; the exit status is 1 if any failed.
"""
from __future__ import annotations

import argparse
import glob
import logging
import sys
from pathlib import Path

from realiisr.cli._clip_options import add_clip_options

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
    parser.add_argument("--scale", type=int, choices=(2, 4, 8), default=None,
                        help="output scale (default: the model's, 4); 2: the ×4 output area-averaged, 8: bicubic ×2 "
                        "on the ×4 output (docs/formats.md)")
    parser.add_argument("--overlap", type=int, default=8, help="tile overlap in LR pixels")
    parser.add_argument("--tta", type=int, choices=(1, 2, 4, 8), default=1,
                        help="test-time self-ensemble: average the outputs of N flipped/turned views of each frame "
                        "(N× the time; docs/benchmarks.md has what each N adds)")
    parser.add_argument("--batch-size", type=int, default=32, help="tiles per forward pass (halved on CUDA out-of-memory)")
    parser.add_argument("--seed", type=int, default=None, help="seed for top-k/top-p sampling")
    parser.add_argument("--cfg", type=float, default=None,
                        help="classifier-free guidance strength (default: the recipe's; 1 for the reference's recipes, "
                        "0 for the shipped one, where guidance moved no score by 0.01 dB and cost half the generation)")
    parser.add_argument("--top-k", type=int, default=1)
    parser.add_argument("--top-p", type=float, default=0.75)
    parser.add_argument("--normalize", choices=("sequence", "minmax", "fixed"), default="sequence",
                        help="radiometric frames (16-bit, float temperatures): one [min, max] over the run's inputs, "
                        "each frame's own, or [0, 65535]")
    parser.add_argument("--range", type=_value_range, default=None, metavar="LOW:HIGH",
                        help="radiometric frames: map these counts or temperatures to the model's [0, 1]")
    parser.add_argument("--radiometric", action=argparse.BooleanOptionalAction, default=None,
                        help="make every output block's mean equal its input pixel (default: on for 16-bit and "
                        "float-temperature frames)")
    parser.add_argument("--sequence", action="store_true",
                        help="each folder or glob is one clip (its frames in name order), written as a video")
    parser.add_argument("--fps", type=float, default=None, help="frame rate of --sequence clips (default 30)")
    parser.add_argument("--frames", action="store_true",
                        help="clips: keep the upscaled frames as OUT/<stem>/%%06d.png beside the video")
    parser.add_argument("--lossless", action="store_true", help="clips: FFV1 grey in Matroska instead of H.264")
    add_clip_options(parser, "clips")
    parser.add_argument("--resume", action="store_true",
                        help="clips: reuse the finished frames of an interrupted run in OUT/<stem>/")
    parser.add_argument("--unit", choices=("C", "K"), default="C",
                        help="FLIR files (FFF, radiometric JPEG): the unit of the output temperature TIFF")
    parser.add_argument("--palette", default="auto", metavar="NAME|auto|none|FILE",
                        help="pseudo-colour frames: auto-detect the palette, name one (ironbow, rainbow, inferno, "
                        "...; `realiisr.camera.palettes`), give an image of the colour bar, or none (luminance)")
    parser.add_argument("--color-fix", choices=("adain", "wavelet", "none"), default=None,
                        help="grey-level correction against the upsampled LR (default: the recipe's; the reference "
                        "applies adain)")
    parser.set_defaults(run=_run)


def _value_range(text: str) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LOW:HIGH, got {text!r}") from None
    if not high > low:
        raise argparse.ArgumentTypeError(f"HIGH must exceed LOW, got {text!r}")
    return low, high


def _palette(text: str):
    """``auto``, ``none``, a built-in palette (checked now, not once per file) or one read from an image file."""
    from realiisr.camera.palettes import get_palette, palette_from_image

    if text in ("auto", "none"):
        return text
    return palette_from_image(text) if Path(text).is_file() else get_palette(text)


def _sequence_range(inputs: list[Path]):
    """One mapping for the run's radiometric frames (``None`` where fewer than two); unreadable files are
    skipped here and reported when their turn comes."""
    from realiisr.camera.radiometric import shared_range
    from realiisr.data.io import read_image
    from realiisr.inference.images import radiometric_values

    values = []
    for path in inputs:
        try:
            found = radiometric_values(read_image(path))
        except ValueError:
            continue
        if found is not None:
            values.append(found)
    if len(values) < 2:
        return None
    value_range = shared_range(values)
    _LOG.info("radiometric frames mapped from %g to %g (the range over this run's %d)", *value_range, len(values))
    return value_range


def collect_inputs(items: list[str]) -> list[Path]:
    from realiisr.camera.flir import FLIR_SUFFIXES
    from realiisr.data.io import IMAGE_SUFFIXES
    from realiisr.video.io import VIDEO_SUFFIXES

    found: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            found += sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES + FLIR_SUFFIXES + VIDEO_SUFFIXES)
        elif any(ch in item for ch in "*?["):
            found += sorted(Path(p) for p in glob.glob(item))
        else:
            found.append(path)
    return found


def _clip_model(args: argparse.Namespace, recipe, model):
    """Clips with ``--temporal`` and neither ``--recipe`` nor ``--weights``: the default recipe's window model
    (trained on fused windows), where one ships; otherwise ``model``."""
    import realiisr
    from realiisr.video.upscale import window_recipe_for

    named = args.recipe is not None or args.weights is not None
    window = None if named else window_recipe_for(recipe.name, args.temporal)
    if window is None:
        return model
    _LOG.info("clips: the window model %s", window)
    window_model = realiisr.build(window, pretrained=True, device=args.device).eval()
    if args.compile:
        window_model.generator.compile_small_ops()
    return window_model


def _run(args: argparse.Namespace) -> int:
    import torch
    from tqdm import tqdm

    import realiisr
    from realiisr.camera.flir import is_flir_file
    from realiisr.data.io import read_image
    from realiisr.inference.camera_files import upscale_flir_file
    from realiisr.inference.images import radiometric_values, upscale_image
    from realiisr.video.io import is_clip, open_clip
    from realiisr.video.upscale import blend_strength, upscale_clip

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
    inputs = [Path(item) for item in args.inputs] if args.sequence else collect_inputs(args.inputs)
    try:
        palette = _palette(args.palette)
    except ValueError as exc:
        print(f"realiisr upscale: --palette: {exc}", file=sys.stderr)
        return 2
    value_range, normalize = args.range, args.normalize
    if normalize == "sequence":
        normalize = "minmax"
        if value_range is None and len(inputs) > 1 and not args.sequence:
            value_range = _sequence_range(inputs)
    clip_model = None  # the window model of the default recipe, built for the first clip
    failures = 0
    for path in tqdm(inputs, desc="upscale", unit="frame", disable=len(inputs) < 2):
        settings = dict(scale=args.scale, overlap=args.overlap, batch_size=args.batch_size, cfg=args.cfg, top_k=args.top_k,
                        top_p=args.top_p, seed=args.seed, color_fix=args.color_fix, dtype=args.dtype,
                        cuda_graphs=args.cuda_graphs, tta=args.tta)
        try:
            if args.sequence or is_clip(path):  # a video out, at the clip's frame rate
                clip = open_clip(path, fps=args.fps)
                if clip_model is None:
                    clip_model = _clip_model(args, recipe, model)
                upscale_clip(clip_model, clip, args.out, keep_frames=args.frames, lossless=args.lossless,
                             resume=args.resume, progress=True, palette=palette,
                             stabilise=blend_strength(args.stabilise, args.temporal), temporal=args.temporal,
                             fuse_outputs=args.fuse_outputs, back_projection=args.back_projection, **settings)
                continue
            if is_flir_file(path):  # temperatures out: a float TIFF, a preview and the camera's metadata
                upscale_flir_file(model, path, args.out, unit=args.unit, palette=palette, **settings)
                continue
            image = read_image(path)
            frame_range = value_range if radiometric_values(image) is not None else None
            result = upscale_image(model, image, normalize=normalize, value_range=frame_range, palette=palette,
                                   radiometric=args.radiometric, what=str(path), **settings)
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
