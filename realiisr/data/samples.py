"""Locating the real FLIR-IISR samples in ``../shared`` (never copied into the repository) and reading images."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from PIL import Image

from realiisr.data.io import IMAGE_SUFFIXES

__all__ = ["SHARED_ENV", "find_shared_dir", "find_samples_dir", "SamplePair", "sample_pairs", "read_gray", "write_gray"]

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


def read_gray(path: Path) -> torch.Tensor:
    """An image file as a ``[1, 1, H, W]`` float32 tensor in [0, 1] (RGB-stored grayscale is averaged)."""
    try:
        with Image.open(path) as image:
            image.load()
            array = np.asarray(image)
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read image {str(path)!r}: {exc}") from exc
    if array.ndim == 3:
        array = array[..., :3].mean(axis=-1)
    scale = 65535.0 if array.dtype == np.uint16 else 255.0
    return torch.from_numpy(np.asarray(array, dtype=np.float32) / scale)[None, None]


def write_gray(tensor: torch.Tensor, path: Path) -> None:
    """Write a ``[1, 1, H, W]`` or ``[H, W]`` tensor in [0, 1] as an 8-bit grayscale PNG."""
    array = tensor.detach().float().clamp(0, 1).squeeze().mul(255).round().to(torch.uint8).cpu().numpy()
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode="L").save(path)
