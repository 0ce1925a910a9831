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

__all__ = ["ClipResult", "upscale_clip", "window_recipe_for"]

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


def upscale_clip(model, clip: Clip, out: Path, *, keep_frames: bool = False, lossless: bool = False,
                 resume: bool = False, progress: bool = True, palette: Any = "auto", stabilise: float = 0.0,
                 temporal: int = 0, **settings: Any) -> ClipResult:
    """Upscale every frame of ``clip`` (:func:`realiisr.inference.images.upscale_image`; a 16-bit clip with one
    mapping for all its frames, a colour clip with one palette) into ``out``. ``keep_frames``: keep
    ``OUT/<stem>/%06d.png``; ``resume``: reuse the PNGs already there; ``stabilise``: the strength of the
    motion-compensated temporal blend (:class:`~realiisr.video.stabilise.TemporalStabiliser`, 0: off), on the
    grey frames, or on the scalar behind a pseudo-colour clip's palette before it is coloured again (a colour
    clip resumed after a stop starts its blend afresh at the first frame computed). ``temporal``: the model reads
    each frame's window of up to ``temporal`` frames on each side, fused along the motion
    (:func:`realiisr.inference.window.window_guide`; 0: each frame alone). A run of bit-identical consecutive
    frames (a slow camera's stream in a faster container) is upscaled once and written for each of them; windows
    hold distinct frames. ``settings`` go to the upscaler."""
    from PIL import Image
    from tqdm import tqdm

    from realiisr.inference.images import upscale_image

    if temporal < 0:
        raise ValueError(f"temporal: the window radius must be >= 0, got {temporal}")
    out = Path(out)
    work = out / clip.stem
    if work.exists() and not resume:
        shutil.rmtree(work)  # a fresh run: an old run's frames are not this one's
    work.mkdir(parents=True, exist_ok=True)
    value_range = _clip_range(clip)
    palette = _clip_palette(clip, palette)
    count = computed = model_runs = 0
    stabiliser = TemporalStabiliser(stabilise, value_range=value_range or (0.0, 255.0))
    previous: Optional[tuple[np.ndarray, Path]] = None  # the last frame reused and its output: a resumed blend
    bar = tqdm(desc=clip.stem, unit="frame", disable=not progress, total=clip.count)  # rate and ETA
    try:
        # a run of repeated frames is upscaled once and written for each (identical frames in, identical frames
        # out, and no blend of a frame with its own copy); windows hold distinct frames
        for _, (frame, repeats), run_window, centre in _windows(repeat_runs(clip.frames()), temporal):
            index, count = count, count + repeats
            targets = [work / f"{i:06d}.png" for i in range(index, count)]
            if resume and all(target.is_file() for target in targets):
                previous = (frame, targets[0])
                bar.update(repeats)
                continue
            window = [f for f, _ in run_window]
            reused, previous = previous, None
            refine = None
            if stabilise and frame.ndim == 3:  # a palette clip: blend the scalar behind the colours
                refine = functools.partial(_stabilise_scalar, stabiliser)
            result = upscale_image(model, frame, value_range=value_range, what=f"{clip.source} frame {index}",
                                   radiometric=value_range is not None, palette=palette, refine=refine,
                                   window=window if temporal else (), centre=centre, **settings)
            if stabilise and result.ndim == 2 and frame.ndim == 2:
                if reused is not None:  # the frame before was resumed: continue the blend from it
                    with Image.open(reused[1]) as image:
                        kept = np.asarray(image).astype(np.float64)
                    stabiliser.reset(kept, bicubic_of(reused[0], kept.shape))
                result = stabilise_frame(stabiliser, result, frame, radiometric=value_range is not None)
            partial = targets[0].with_suffix(".part.png")
            Image.fromarray(result).save(partial)
            partial.replace(targets[0])
            for target in targets[1:]:
                partial = target.with_suffix(".part.png")
                shutil.copyfile(targets[0], partial)
                partial.replace(target)
            computed += repeats
            model_runs += 1
            bar.update(repeats)
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
    if not keep_frames:
        shutil.rmtree(work)
    _LOG.info("%s: %d frames (%d written now, the model ran on %d) → %s", clip.source, count, computed, model_runs,
              video)
    return ClipResult(video, work if keep_frames else None, count, computed, model_runs)
