"""Locating the real FLIR-IISR samples in ``../shared`` (never copied into the repository) and reading images."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from realiisr.data.io import IMAGE_SUFFIXES

__all__ = ["SHARED_ENV", "find_shared_dir", "find_samples_dir", "SamplePair", "sample_pairs"]

#: Overrides where ``shared/`` is (default: a ``shared`` folder beside the repository or a parent of cwd).
SHARED_ENV = "REALIISR_SHARED"


def find_shared_dir() -> Optional[Path]:
    """``$REALIISR_SHARED``, else the first ``shared/`` beside the repository or beside a parent of cwd."""
    env = os.environ.get(SHARED_ENV)
    if env:
        path = Path(env).expanduser()
        return path if path.is_dir() else None
    starts = [Path.cwd(), Path(__file__).resolve().parent]
    for start in starts:
        for parent in [start, *start.parents]:
            candidate = parent.parent / "shared" if parent.name else None
            if candidate is not None and (candidate / "data").is_dir():
                return candidate
    return None


def find_samples_dir() -> Optional[Path]:
    shared = find_shared_dir()
    if shared is None:
        return None
    path = shared / "data" / "flir-iisr-samples"
    return path if path.is_dir() else None


@dataclass(frozen=True)
class SamplePair:
    name: str
    lr: Path
    hr: Optional[Path]


def sample_pairs(root: Path) -> list[SamplePair]:
    """LR images of ``root/LR`` with their HR partner from ``root/HR`` matched by file name (HR may be absent)."""
    lr_dir, hr_dir = root / "LR", root / "HR"
    hr_by_name = {p.name: p for p in hr_dir.iterdir()} if hr_dir.is_dir() else {}
    pairs = []
    for lr in sorted(lr_dir.iterdir()) if lr_dir.is_dir() else []:
        if lr.suffix.lower() in IMAGE_SUFFIXES:
            pairs.append(SamplePair(lr.stem, lr, hr_by_name.get(lr.name)))
    return pairs
