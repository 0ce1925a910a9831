"""Training data from ``--data`` specifications: what a path holds, and the datasets built from it.

A specification is ``synthetic:N``, a packed-crops ``.npz`` file, a folder of real pairs (``HR/`` + ``LR/``),
a folder of HR frames, or a dataset root above such folders (``flir-iisr-samples`` holds ``pairs/`` and
``frames/HR``); a folder may end in ``@N`` to shrink its frames by N first (soft sources). ``HR/`` and ``LR/``
are pairs when they share file names; an ``LR`` folder that pairs with nothing holds low-resolution inputs,
never training targets, and is left out.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Sequence

from torch.utils.data import Dataset

from realiisr.data.datasets import ConcatThermalDataset, DataError, DegradedThermalDataset, PairedThermalDataset
from realiisr.data.io import IMAGE_SUFFIXES

__all__ = ["discover", "build_datasets"]

_LOG = logging.getLogger(__name__)


def _has_images(folder: Path) -> bool:
    return any(p.suffix.lower() in IMAGE_SUFFIXES for p in folder.iterdir() if p.is_file())


def _stems(folder: Path) -> set[str]:
    return {p.stem for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}


def discover(path: Path, depth: int = 3) -> list[tuple[str, Path]]:
    """``[(kind, path)]`` with kind ``pairs``, ``frames`` or ``packed`` for what ``path`` holds."""
    if path.is_file() and path.suffix == ".npz":
        return [("packed", path)]
    if not path.is_dir():
        raise DataError(f"--data {str(path)!r}: not a folder, a packed .npz file or synthetic:N")
    if (path / "HR").is_dir() and (path / "LR").is_dir() and _stems(path / "HR") & _stems(path / "LR"):
        return [("pairs", path)]
    if _has_images(path):
        return [("frames", path)]
    found: list[tuple[str, Path]] = []
    if depth > 0:
        for child in sorted(p for p in path.iterdir() if p.is_dir()):
            if child.name == "LR":
                _LOG.info("--data %s: leaving out %s (low-resolution inputs, no HR partner)", path, child)
                continue
            try:
                found += discover(child, depth - 1)
            except DataError:
                continue
    if not found:
        raise DataError(f"--data {str(path)!r} holds no images ({', '.join(IMAGE_SUFFIXES)}), no HR/+LR/ pairs and "
                        f"no such folders below it (searched {depth} levels)")
    return found


def build_datasets(specs: Sequence[str], crop: int, scale: int, seed: int, holdout: Sequence[str], repeats: int,
                   register: bool = False, degradation: str = "flir_iisr", contrast: float = 0.0,
                   val_repeats: int = 4, frames_dataset: Callable[..., Dataset] = DegradedThermalDataset):
    """(train dataset or None, validation dataset or None) from ``--data`` specifications.

    Pairs named in ``holdout`` (``*`` for every pair) are validation only, ``val_repeats`` fixed crops each.
    HR frames are degraded on the fly by the ``degradation`` preset, through ``frames_dataset`` (a
    :class:`~realiisr.data.datasets.DegradedThermalDataset` or a class that takes its arguments, such as the
    window model's :class:`~realiisr.video.window_data.WindowDegradedDataset`).
    """
    from realiisr.data.synthetic import thermal_frame

    train, val = [], []

    def frames(source, **extra):
        return frames_dataset(source, crop=crop, scale=scale, seed=seed, repeats=repeats,
                                      pipeline=degradation, contrast=contrast, **extra)

    for spec in specs:
        if spec.startswith("synthetic:"):
            count = int(spec.split(":", 1)[1])
            make = lambda index, generator: thermal_frame(4 * crop, 4 * crop, generator=generator)[0]  # noqa: E731
            train.append(frames(make, length=count))
            continue
        folder, shrink = spec, 1
        if "@" in spec and spec.rpartition("@")[2].isdigit():
            folder, shrink = spec.rpartition("@")[0], int(spec.rpartition("@")[2])
        for kind, path in discover(Path(folder)):
            if kind == "packed":
                train.append(frames(path))
            elif kind == "frames":
                train.append(frames(path, shrink=shrink))
            else:
                full = PairedThermalDataset(path, crop=crop, scale=scale, seed=seed, on_error="skip", register=register)
                names = [p.name for p in full.pairs]
                held = names if "*" in holdout else [n for n in names if n in holdout]
                rest = [n for n in names if n not in held]
                if rest:
                    train.append(full.subset(rest, repeats=repeats))
                if held:
                    val.append(full.subset(held, augment=False, negatives=False, repeats=val_repeats))
    return (ConcatThermalDataset(train) if train else None), (ConcatThermalDataset(val) if val else None)
