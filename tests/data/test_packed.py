"""Packed HR crops (``realiisr pack-frames``) and ``--data`` discovery below a dataset root."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from realiisr.cli import main
from realiisr.data.datasets import DataError, DegradedThermalDataset
from realiisr.data.packed import PackedFramesError, load_packed, pack_crops, parse_source
from realiisr.data.sources import build_datasets, discover


def _frames(folder, count, size=(96, 80), seed=0, prefix="f"):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, size[::-1], dtype=np.uint8), mode="L").save(folder / f"{prefix}{i}.png")
    return folder


def test_pack_round_trip_and_dataset(tmp_path):
    big, small = _frames(tmp_path / "big", 3, (160, 128)), _frames(tmp_path / "small", 2, (160, 128), seed=1)
    manifest = pack_crops([parse_source(str(big)), parse_source(f"{small}@2")], tmp_path / "c.npz", crop=64, per_frame=2)
    assert manifest["count"] == 10 and manifest["sources"][1]["shrink"] == 2
    crops, names = load_packed(tmp_path / "c.npz")
    assert crops.shape == (10, 1, 64, 64) and crops.dtype == torch.float32 and names[0] == "f0.png"
    original = np.asarray(Image.open(big / "f0.png"), dtype=np.float32) / 255  # a crop is a window of its frame
    first = crops[0, 0].numpy()
    hits = [(t, l) for t in range(128 - 63) for l in range(160 - 63) if np.allclose(original[t : t + 64, l : l + 64], first)]
    assert hits
    data = DegradedThermalDataset(tmp_path / "c.npz", crop=64, scale=4, pipeline="flir_iisr", contrast=0.3)
    item = data[3]
    assert len(data) == 10 and item["lr"].shape == item["hr"].shape == (3, 64, 64)
    assert torch.equal(data[(1, 5)]["hr"], data[(1, 5)]["hr"])  # deterministic per (epoch, index)


def test_pack_errors_name_the_thing(tmp_path):
    with pytest.raises(PackedFramesError, match="does not exist"):
        parse_source(str(tmp_path / "missing"))
    with pytest.raises(PackedFramesError, match="must be an integer"):
        parse_source(f"{_frames(tmp_path / 'a', 1)}@x")
    with pytest.raises(PackedFramesError, match="no frame .* is at least 512x512"):
        pack_crops([parse_source(str(tmp_path / "a"))], tmp_path / "x.npz", crop=512)
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(PackedFramesError, match="bad.npz' is not a packed-crops file"):
        load_packed(tmp_path / "bad.npz")
    np.savez(tmp_path / "wrong.npz", crops=np.zeros((2, 8, 8), np.float32), names=np.array(["a", "b"]))
    with pytest.raises(PackedFramesError, match="expected uint8 crops"):
        load_packed(tmp_path / "wrong.npz")
    assert main(["pack-frames", str(tmp_path / "a"), "-o", str(tmp_path / "out.zip")]) == 2


def test_discover_a_dataset_root(tmp_path):
    """pairs/ (HR+LR) and frames/HR are found below a root; frames/LR (inputs without HR) is left out."""
    root = tmp_path / "root"
    _frames(root / "pairs" / "HR", 2, (128, 128))
    _frames(root / "pairs" / "LR", 2, (32, 32))
    _frames(root / "frames" / "HR", 2, (160, 128))
    _frames(root / "frames" / "LR", 2, (40, 32), prefix="blurred")  # no HR partner
    assert discover(root) == [("frames", root / "frames" / "HR"), ("pairs", root / "pairs")]
    train, val = build_datasets([str(root)], 64, 4, 0, holdout=["f1"], repeats=1)
    assert len(train) == 2 + 1 * 2 and len(val) == 4  # 2 frames, one pair and its negative; 4 val crops
    train, val = build_datasets([str(root)], 64, 4, 0, holdout=["*"], repeats=1)
    assert len(train) == 2 and len(val) == 8
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(DataError, match="empty' holds no images .* no such folders below it"):
        discover(tmp_path / "empty")


def test_discover_the_shared_samples_root(samples_dir):
    kinds = discover(samples_dir)
    assert ("pairs", samples_dir / "pairs") in kinds and ("frames", samples_dir / "frames" / "HR") in kinds
    assert all(path.name != "LR" for _, path in kinds)


def test_pack_leaves_out_the_sweep_holdout(tmp_path):
    """``--exclude-sweep-holdout`` drops HIT-UAV's 100 m sequences (the sweep's frames) and counts them."""
    folder = tmp_path / "hit-uav"
    _frames(folder, 2, (96, 96), prefix="0_100_30_0_0000")
    _frames(folder, 3, (96, 96), prefix="1_60_40_0_0000")
    main(["pack-frames", str(folder), "-o", str(tmp_path / "c.npz"), "--crop", "64", "--per-frame", "1",
          "--exclude-sweep-holdout"])
    _, names = load_packed(tmp_path / "c.npz")
    assert sorted(names) == [f"1_60_40_0_0000{i}.png" for i in range(3)]
    manifest = pack_crops([parse_source(str(folder))], tmp_path / "all.npz", crop=64, per_frame=1)
    assert manifest["count"] == 5 and manifest["excluded_sweep_holdout"] == {}
