"""Upscale a clip frame by frame, crash-safe: every finished frame is a PNG in ``OUT/<stem>/`` before the next
starts (written whole, then renamed), so Ctrl-C or a crash loses nothing finished and ``resume`` continues from
there; the container ``OUT/<stem>.<ext>`` is encoded from those frames at the end, at the input's frame rate."""
from __future__ import annotations

import functools
import logging
import shutil
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional

import numpy as np
import torch
from torch import Tensor

from realiisr.video.io import Clip, ClipWriter, repeat_runs
from realiisr.video.stabilise import TemporalStabiliser, bicubic_of, stabilise_frame

__all__ = ["ClipResult", "upscale_clip", "window_recipe_for", "blend_strength"]

_LOG = logging.getLogger(__name__)


@dataclass
class ClipResult:
    video: Optional[Path]  # the container written (None for frames only)
    frames_dir: Optional[Path]  # the PNG frames, where kept
    frames: int
    upscaled: int  # frames written in this run (the rest were resumed)
    model_runs: int = 0  # frames the model ran on in this run: a run of repeated frames counts once


def _container_path(clip: Clip, out: Path, lossless: bool, sixteen: bool) -> Path:
    suffix = Path(clip.source).suffix.lower() if clip.kind == "video" else ".mp4"
    if (lossless or sixteen) and suffix not in (".mkv", ".avi"):
        suffix = ".mkv"  # FFV1: Matroska holds it everywhere
    elif suffix == ".webm":
        suffix = ".mkv"  # WebM takes only VP8/VP9/AV1, not the H.264 written here
    return out / f"{clip.stem}{suffix}"


def _clip_range(clip: Clip) -> Optional[tuple[float, float]]:
    """One mapping for a 16-bit clip (its [min, max] over every frame), ``None`` for 8-bit clips."""
    low, high, sixteen = np.inf, -np.inf, False
    for frame in clip.frames():
        if frame.dtype != np.uint16:
            return None
        sixteen = True
        low, high = min(low, float(frame.min())), max(high, float(frame.max()))
    return (low, high if high > low else low + 1.0) if sixteen else None


def _clip_palette(clip: Clip, palette: Any) -> Any:
    """One palette for a colour clip (``"auto"``: detected on its first frame), so frames never switch palette."""
    if not (isinstance(palette, str) and palette == "auto"):
        return palette
    first = next(iter(clip.frames()))
    if first.ndim == 2:
        return "auto"
    from realiisr.camera.pseudocolour import detect_palette

    found, shares = detect_palette(first)
    if found is None:
        best = ", ".join(f"{name} {share:.0%}" for name, share in list(shares.items())[:3])
        raise ValueError(f"{clip.source}: frame 0 is colour but fits no built-in palette (pixels on the closest: "
                         f"{best}); pass --palette NAME|FILE, or --palette none for its luminance")
    _LOG.info("%s: palette %s (detected on frame 0)", clip.source, found.name)
    return found


def _stabilise_scalar(stabiliser: TemporalStabiliser, out: Tensor, lr: Tensor) -> Tensor:
    """The temporal blend of a pseudo-colour clip, on its 8-bit scalar (the palette index) before recolouring."""
    def eight_bit(frame: Tensor) -> np.ndarray:
        return np.clip(np.round(frame[0].double().numpy() * 255), 0, 255).astype(np.uint8)

    blended = stabilise_frame(stabiliser, eight_bit(out), eight_bit(lr))
    return torch.from_numpy(blended.astype(np.float32) / 255)[None]


def blend_strength(stabilise: Optional[float], temporal: int) -> float:
    """The temporal blend a clip gets: ``stabilise`` where given, else 0.6 for frames upscaled alone
    (``temporal`` 0) and none with a window, whose output fusion already steadies the clip: on held-out synthetic
    clips the blend on top of it took PSNR away and flickered more (``docs/video.md``)."""
    if stabilise is not None:
        return stabilise
    return 0.0 if temporal > 0 else 0.6


def window_recipe_for(recipe: str, temporal: int = 1) -> Optional[str]:
    """The registered recipe that ships the window model of ``recipe`` (its ``meta.window_of``), if any and if
    ``temporal`` > 0: what ``realiisr upscale`` and ``evaluate`` run on clips when no model is named."""
    from realiisr.core.recipes import RECIPES, list_recipes

    if temporal <= 0:
        return None
    for name in list_recipes(pretrained=True):
        if RECIPES.get(name).meta.get("window_of") == recipe:
            return name
    return None


def _windows(frames: Iterable[Any], radius: int) -> Iterator[tuple[int, Any, list[Any], int]]:
    """(index, frame, its window of up to ``radius`` frames on each side, the frame's place in it), in order,
    reading at most ``radius`` frames ahead. A frame that fails to decode raises when its turn comes, not while
    it is read ahead, so every frame before it is still upscaled (its window then ends before it)."""
    buffer: deque[tuple[int, Any]] = deque()
    ahead = iter(frames)
    failure: Optional[Exception] = None
    exhausted, index = False, 0
    while True:
        while not exhausted and (not buffer or buffer[-1][0] < index + radius):
            try:
                buffer.append((buffer[-1][0] + 1 if buffer else 0, next(ahead)))
            except StopIteration:
                exhausted = True
            except (ValueError, OSError) as exc:
                exhausted, failure = True, exc
        while buffer and buffer[0][0] < index - radius:
            buffer.popleft()
        if not buffer or buffer[-1][0] < index:
            if failure is not None:
                raise failure
            return
        window = [frame for _, frame in buffer]
        centre = index - buffer[0][0]
        yield index, window[centre], window, centre
        index += 1


@dataclass
class _Run:
    """A run of bit-identical consecutive frames: upscaled once, written once per frame."""

    position: int  # among the clip's runs
    first: int  # the clip's index of its first frame
    frame: Any
    window: list[Any]  # the distinct frames of the model's window
    centre: int  # the run's frame in it
    targets: list[Path]  # one PNG per frame of the run


def _runs(frames: Iterable[Any], temporal: int, work: Path) -> Iterator[_Run]:
    count = 0
    for position, (frame, repeats), run_window, centre in _windows(repeat_runs(frames), temporal):
        targets = [work / f"{i:06d}.png" for i in range(count, count + repeats)]
        count += repeats
        yield _Run(position, count - repeats, frame, [f for f, _ in run_window], centre, targets)


def _write_png(pixels: np.ndarray, target: Path) -> None:
    """Written whole, then renamed: a stop never leaves a partial frame under a frame's name."""
    from PIL import Image

    partial = target.with_suffix(".part.png")
    Image.fromarray(pixels).save(partial)
    partial.replace(target)


def upscale_clip(model, clip: Clip, out: Path, *, keep_frames: bool = False, lossless: bool = False,
                 resume: bool = False, progress: bool = True, palette: Any = "auto", stabilise: float = 0.0,
                 temporal: int = 0, fuse_outputs: bool = True, **settings: Any) -> ClipResult:
    """Upscale every frame of ``clip`` (:func:`realiisr.inference.images.upscale_image`; a 16-bit clip with one
    mapping for all its frames, a colour clip with one palette) into ``out``. ``keep_frames``: keep
    ``OUT/<stem>/%06d.png``; ``resume``: reuse the PNGs already there; ``stabilise``: the strength of the
    motion-compensated temporal blend (:class:`~realiisr.video.stabilise.TemporalStabiliser`, 0: off), on the
    grey frames, or on the scalar behind a pseudo-colour clip's palette before it is coloured again (a colour
    clip resumed after a stop starts its blend afresh at the first frame computed). ``temporal``: the model reads
    each frame's window of up to ``temporal`` frames on each side, fused along the motion
    (:func:`realiisr.inference.window.window_guide`; 0: each frame alone), and, with ``fuse_outputs``, each
    written frame is the fusion of the model's outputs over that window
    (:func:`realiisr.video.stabilise.fuse_outputs`), before the blend. A run of bit-identical consecutive frames
    (a slow camera's stream in a faster container) is upscaled once and written for each of them; windows hold
    distinct frames. ``settings`` go to the upscaler."""
    from PIL import Image
    from tqdm import tqdm

    from realiisr.inference.images import upscale_image
    from realiisr.video.stabilise import fuse_outputs as fuse

    if temporal < 0:
        raise ValueError(f"temporal: the window radius must be >= 0, got {temporal}")
    out = Path(out)
    work = out / clip.stem
    if work.exists() and not resume:
        shutil.rmtree(work)  # a fresh run: an old run's frames are not this one's
    work.mkdir(parents=True, exist_ok=True)
    # each run's model output before the output fusion, so that a resumed clip fuses its first frames as an
    # uninterrupted run would, without running the model again on their finished neighbours
    model_dir = work / "model"
    value_range = _clip_range(clip)
    palette = _clip_palette(clip, palette)
    count = computed = 0
    model_runs = [0]
    stabiliser = TemporalStabiliser(stabilise, value_range=value_range or (0.0, 255.0))
    previous: Optional[tuple[np.ndarray, Path]] = None  # the last frame reused and its output: a resumed blend
    refine = None
    if stabilise:  # a palette clip: blend the scalar behind the colours
        refine = functools.partial(_stabilise_scalar, stabiliser)
    radius = temporal if fuse_outputs else 0
    outputs: dict[int, np.ndarray] = {}  # the model's outputs of the runs around the current one

    def model_output(run: _Run) -> np.ndarray:
        if run.position not in outputs:
            kept = model_dir / run.targets[0].name
            if resume and kept.is_file():
                with Image.open(kept) as image:
                    outputs[run.position] = np.asarray(image).copy()
            else:
                outputs[run.position] = upscale_image(
                    model, run.frame, value_range=value_range, what=f"{clip.source} frame {run.first}",
                    radiometric=value_range is not None, palette=palette,
                    refine=refine if run.frame.ndim == 3 else None, window=run.window if temporal else (),
                    centre=run.centre, **settings)
                model_runs[0] += 1
                if radius:
                    model_dir.mkdir(exist_ok=True)
                    _write_png(outputs[run.position], kept)
        return outputs[run.position]

    bar = tqdm(desc=clip.stem, unit="frame", disable=not progress, total=clip.count)  # rate and ETA
    try:
        for position, run, around, centre in _windows(_runs(clip.frames(), temporal, work), radius):
            count += len(run.targets)
            for stale in [p for p in outputs if p < position - radius]:
                del outputs[stale]
            if resume and all(target.is_file() for target in run.targets):
                previous = (run.frame, run.targets[0])
                bar.update(len(run.targets))
                continue
            reused, previous = previous, None
            if radius and len(around) > 1:
                result = fuse([model_output(r) for r in around], [r.frame for r in around], centre,
                              value_range=value_range or (0.0, 255.0), radiometric=value_range is not None)
            else:
                result = model_output(run)
            if stabilise and result.ndim == 2 and run.frame.ndim == 2:
                if reused is not None:  # the frame before was resumed: continue the blend from it
                    with Image.open(reused[1]) as image:
                        last = np.asarray(image).astype(np.float64)
                    stabiliser.reset(last, bicubic_of(reused[0], last.shape))
                result = stabilise_frame(stabiliser, result, run.frame, radiometric=value_range is not None)
            _write_png(result, run.targets[0])
            for target in run.targets[1:]:
                partial = target.with_suffix(".part.png")
                shutil.copyfile(run.targets[0], partial)
                partial.replace(target)
            computed += len(run.targets)
            bar.update(len(run.targets))
    except ValueError as exc:
        finished = len(list(work.glob("[0-9]*[0-9].png")))
        raise ValueError(f"{exc}; the {finished} finished frames are kept in {work} (rerun with --resume to "
                         f"continue)") from exc
    finally:
        bar.close()
    written = sorted(work.glob("[0-9]*[0-9].png"))[:count]  # not the .part.png of an interrupted write
    sixteen = value_range is not None
    video = _container_path(clip, out, lossless, sixteen)
    with ClipWriter(video, clip.fps, lossless=lossless) as writer:
        for path in written:
            with Image.open(path) as image:
                pixels = np.asarray(image)
                pixels = pixels[..., :3] if pixels.ndim == 3 else pixels
                writer.write(pixels.astype(np.uint16 if sixteen else np.uint8))
    shutil.rmtree(model_dir, ignore_errors=True)
    if not keep_frames:
        shutil.rmtree(work)
    _LOG.info("%s: %d frames (%d written now, the model ran on %d) → %s", clip.source, count, computed,
              model_runs[0], video)
    return ClipResult(video, work if keep_frames else None, count, computed, model_runs[0])
