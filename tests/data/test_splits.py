"""The held-out HIT-UAV range behind ``realiisr evaluate --sweep``."""
from __future__ import annotations

from pathlib import Path

import pytest

from realiisr.data.splits import is_sweep_holdout, sweep_holdout_frames


def test_holdout_is_whole_sequences_at_100_m():
    assert is_sweep_holdout("0_100_30_0_03280.jpg") and is_sweep_holdout(Path("x/1_100_90_0_01234.png"))
    for name in ("0_10_30_0_03280.jpg", "0_110_30_0_03280.jpg", "1_60_100_0_00001.jpg", "000009_0.png",
                 "2_100_30_0_03280.jpg"):
        assert not is_sweep_holdout(name), name
    paths = [Path(n) for n in ("1_100_40_0_2.jpg", "0_60_40_0_1.jpg", "0_100_40_0_9.jpg")]
    assert sweep_holdout_frames(paths) == [Path("0_100_40_0_9.jpg"), Path("1_100_40_0_2.jpg")]


def test_holdout_range_in_the_shared_frames(shared_dir):
    """On the real HIT-UAV folder: 14 sequences (day and night × 7 camera angles), whole sequences only."""
    folder = shared_dir / "data" / "thermal-frames" / "hit-uav"
    if not folder.is_dir():
        pytest.skip(f"{folder} is not on this machine")
    frames = sweep_holdout_frames(folder.iterdir())
    sequences = {p.stem.rsplit("_", 1)[0] for p in frames}
    assert len(sequences) == 14 and 60 < len(frames) < 150
    others = {p.stem.rsplit("_", 1)[0] for p in folder.iterdir() if not is_sweep_holdout(p)}
    assert not sequences & others
