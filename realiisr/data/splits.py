"""Which frames of the training sources are kept out of training, so that an evaluation on them can be trusted.

HIT-UAV's frames come from drone videos named ``A_B_C_D_frame`` (day/night, altitude in metres, camera angle,
sequence); neighbouring frames are near-duplicates, so a held-out set is a range of video prefixes, never random
frames. Every sequence flown at 100 m (day and night, all seven camera angles: 14 sequences, 97 of the 966 frames in
``thermal-frames/hit-uav``) is the sweep's held-out range: :mod:`realiisr.evaluation.sweep` degrades those frames
at fixed blur widths, and ``realiisr pack-frames --exclude-sweep-holdout`` leaves them out of training crops.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable, Union

__all__ = ["SWEEP_HOLDOUT", "is_sweep_holdout", "sweep_holdout_frames"]

#: File stems of the sweep's held-out HIT-UAV sequences (altitude 100 m).
SWEEP_HOLDOUT = re.compile(r"^[01]_100_\d+_\d+_\d+$")


def is_sweep_holdout(path: Union[str, Path]) -> bool:
    """Whether the frame at ``path`` (or with that stem) belongs to the sweep's held-out range."""
    return SWEEP_HOLDOUT.match(Path(path).stem) is not None


def sweep_holdout_frames(paths: Iterable[Path]) -> list[Path]:
    """The held-out frames among ``paths``, in name order."""
    return sorted(p for p in paths if is_sweep_holdout(p))
