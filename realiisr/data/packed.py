"""HR training crops packed into one compressed array file (``.npz``).

A folder tree of frames is convenient on a workstation; a lent accelerator machine receives only a few tens of
MiB, so the training HR travels as uint8 grey crops in one ``np.savez_compressed`` file (128² crops cost about
10 KB each). :class:`~realiisr.data.datasets.DegradedThermalDataset` reads such a file like a folder: every
crop is one HR frame, degraded on the fly.

A source may be shrunk before cropping (``DIR@2``): frames whose stored size holds little real detail (they
survive ×2 bicubic down-and-up at 40+ dB) make truthful HR targets only at half size.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Sequence, Union

import numpy as np
import torch

from realiisr.data.io import IMAGE_SUFFIXES, read_frame, shrink_frame
from realiisr.data.splits import is_sweep_holdout

__all__ = ["FrameSource", "parse_source", "pack_crops", "load_packed", "PackedFramesError"]

_LOG = logging.getLogger(__name__)


class PackedFramesError(ValueError):
    """A packed-crops problem that names the file or folder."""


class FrameSource:
    """A folder of frames and the factor to shrink them by before cropping."""

    def __init__(self, folder: Union[str, Path], shrink: int = 1) -> None:
        self.folder, self.shrink = Path(folder), int(shrink)
        if self.shrink < 1:
            raise PackedFramesError(f"{self.folder}: shrink must be >= 1, got {self.shrink}")
        if not self.folder.is_dir():
            raise PackedFramesError(f"frame folder {str(self.folder)!r} does not exist")
        self.files = sorted(p for p in self.folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.files:
            raise PackedFramesError(f"frame folder {str(self.folder)!r} holds no images ({', '.join(IMAGE_SUFFIXES)})")

    def __repr__(self) -> str:
        return f"{self.folder}@{self.shrink}"


def parse_source(text: str) -> FrameSource:
    """``DIR`` or ``DIR@N`` (shrink by N first)."""
    folder, _, factor = text.rpartition("@") if "@" in text else (text, "", "1")
    try:
        return FrameSource(folder, int(factor))
    except ValueError as exc:
        if isinstance(exc, PackedFramesError):
            raise
        raise PackedFramesError(f"frame source {text!r}: the shrink after '@' must be an integer") from exc


def pack_crops(sources: Sequence[FrameSource], out: Union[str, Path], *, crop: int = 144, per_frame: int = 2,
               seed: int = 0, exclude_sweep_holdout: bool = False) -> dict:
    """Cut ``per_frame`` random ``crop``² grey crops from every frame (after its source's shrink) into ``out``.

    Frames smaller than the crop are skipped and counted; ``exclude_sweep_holdout`` leaves out the frames of the
    sweep's held-out range (:mod:`realiisr.data.splits`), counted too. Returns the manifest stored in the file.
    """
    rng = np.random.default_rng(seed)
    crops: list[np.ndarray] = []
    origin: list[str] = []
    skipped: dict[str, int] = {}
    excluded: dict[str, int] = {}
    for source in sources:
        for path in source.files:
            if exclude_sweep_holdout and is_sweep_holdout(path):
                excluded[str(source)] = excluded.get(str(source), 0) + 1
                continue
            frame = shrink_frame(read_frame(path), source.shrink)[0].numpy()
            h, w = frame.shape
            if h < crop or w < crop:
                skipped[str(source)] = skipped.get(str(source), 0) + 1
                continue
            for _ in range(per_frame):
                top, left = int(rng.integers(0, h - crop + 1)), int(rng.integers(0, w - crop + 1))
                crops.append(np.clip(np.round(frame[top : top + crop, left : left + crop] * 255), 0, 255).astype(np.uint8))
                origin.append(path.name)
    if not crops:
        raise PackedFramesError(f"no frame of {[str(s) for s in sources]} is at least {crop}x{crop}")
    manifest = {"crop": crop, "per_frame": per_frame, "seed": seed, "count": len(crops),
                "sources": [{"folder": str(s.folder), "shrink": s.shrink, "frames": len(s.files)} for s in sources],
                "skipped_small": skipped, "excluded_sweep_holdout": excluded}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, crops=np.stack(crops), names=np.array(origin), manifest=np.array(json.dumps(manifest)))
    _LOG.info("packed %d crops of %dx%d into %s", len(crops), crop, crop, out)
    return manifest


def load_packed(path: Union[str, Path]) -> tuple[torch.Tensor, list[str]]:
    """(``[N, 1, crop, crop]`` float32 crops in [0, 1], the frame each came from)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            crops, names = data["crops"], [str(n) for n in data["names"]]
    except FileNotFoundError:
        raise PackedFramesError(f"packed crops {str(path)!r} do not exist") from None
    except (OSError, ValueError, KeyError) as exc:
        raise PackedFramesError(f"{str(path)!r} is not a packed-crops file ({type(exc).__name__}: {exc})") from exc
    if crops.dtype != np.uint8 or crops.ndim != 3 or len(crops) != len(names):
        raise PackedFramesError(f"{str(path)!r}: expected uint8 crops [N, H, W] with one name each, "
                                f"got {crops.dtype} {crops.shape} and {len(names)} names")
    return torch.from_numpy(crops).unsqueeze(1).float().div_(255), names
