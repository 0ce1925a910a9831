"""Data pipeline: pairing by name, crops on both grids, determinism, bad data, degradations."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from realiisr.data.datasets import DataError, DegradedThermalDataset, PairedThermalDataset
from realiisr.data.degradations import DEGRADATIONS, DegradationPipeline, default_pipeline
from realiisr.data.io import pil_bicubic, read_frame


def _write(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


@pytest.fixture
def pairs(tmp_path):
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        coarse = Image.fromarray((rng.random((8, 12)) * 255).astype(np.uint8))
        hr = np.asarray(coarse.resize((96, 64), Image.BILINEAR))
        _write(tmp_path / "HR" / f"{name}.png", hr)
        lr = np.asarray(Image.fromarray(hr).resize((24, 16), Image.BICUBIC))
        _write(tmp_path / "LR" / f"{name}.png", lr)
    return tmp_path


def test_real_lr_preparation_reproduces_the_reference(golden, samples_dir):
    """Crop first, then Pillow bicubic (8-bit path) ×4: exactly the golden LR inputs."""
    lr = read_frame(samples_dir / "pairs" / "LR" / "000009_0.png")
    for b, (row, col) in enumerate([(48, 48), (16, 64)]):
        up = pil_bicubic(lr[:, row : row + 32, col : col + 32], 128, 128, eight_bit=True) * 2 - 1
        torch.testing.assert_close(up, golden["inputs"]["lr"][b, :1], atol=0, rtol=0)


def test_pairs_match_by_name_and_crops_align(pairs):
    ds = PairedThermalDataset(pairs, crop=32, scale=4, augment=False, negatives=False)
    assert len(ds) == 2 and [p.name for p in ds.pairs] == ["a", "b"]
    item = ds[0]
    assert item["lr"].shape == item["hr"].shape == (3, 32, 32) and item["label"] == 0
    assert -1 <= float(item["hr"].min()) and float(item["hr"].max()) <= 1
    # the LR crop is the bicubic upsample of the co-located 1/4 crop: close to the HR crop's blur
    assert torch.corrcoef(torch.stack([item["lr"][0].flatten(), item["hr"][0].flatten()]))[0, 1] > 0.9


def test_negative_samples_and_determinism(pairs):
    ds = PairedThermalDataset(pairs, crop=32, scale=4, seed=3)
    assert len(ds) == 4 and ds[2]["label"] == 1 and ds[3]["name"] == "b"
    assert torch.equal(ds[(1, 1)]["hr"], ds[(1, 1)]["hr"])
    assert not torch.equal(ds[(0, 1)]["hr"], ds[(1, 1)]["hr"])  # another epoch, another crop


def test_bad_data_is_named(pairs, tmp_path):
    (pairs / "LR" / "b.png").unlink()
    with pytest.raises(DataError, match=r"unpaired files \['b'\]"):
        PairedThermalDataset(pairs)
    skipping = PairedThermalDataset(pairs, on_error="skip", crop=32)
    assert skipping.skipped == ["b: no LR partner"] and len(skipping) == 2
    (pairs / "LR" / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(ValueError, match="cannot read image .*a.png"):
        PairedThermalDataset(pairs, on_error="skip", crop=32)[0]
    empty = tmp_path / "empty"
    (empty / "HR").mkdir(parents=True)
    (empty / "LR").mkdir()
    with pytest.raises(DataError, match="holds no images"):
        PairedThermalDataset(empty)


def test_wrong_size_ratio_is_named(pairs):
    _write(pairs / "LR" / "a.png", np.zeros((20, 20), np.uint8))
    with pytest.raises(DataError, match="pair 'a': LR \\(20, 20\\) is neither the HR size"):
        PairedThermalDataset(pairs, crop=32, scale=4)[0]


def test_sixteen_bit_frames(tmp_path):
    frame = (np.linspace(0, 65535, 64 * 64).reshape(64, 64)).astype(np.uint16)
    Image.fromarray(frame).save(tmp_path / "f.png")
    read = read_frame(tmp_path / "f.png")
    assert read.shape == (1, 64, 64) and abs(float(read.max()) - 1.0) < 1e-6 and float(read.min()) == 0.0


def test_degradations_are_registered_deterministic_and_shrink(tmp_path):
    assert {"defocus", "motion_blur", "radiometric_drift", "fixed_pattern_noise", "sensor_noise", "downsample"} <= set(
        DEGRADATIONS.names()
    )
    frame = torch.rand(1, 64, 64)
    pipeline = default_pipeline(4)
    a = pipeline(frame, torch.Generator().manual_seed(1))
    b = pipeline(frame, torch.Generator().manual_seed(1))
    c = pipeline(frame, torch.Generator().manual_seed(2))
    assert a.shape == (1, 16, 16) and torch.equal(a, b) and not torch.equal(a, c)
    blur = DegradationPipeline([{"type": "defocus", "sigma": [2.0, 2.0], "spatially_varying": False}])
    assert float(blur(frame, torch.Generator()).std()) < float(frame.std()) / 2
    with pytest.raises(ValueError, match="downsample scale must be 2, 4 or 8"):
        DegradationPipeline([{"type": "downsample", "scale": 3}])


def test_degraded_dataset_from_frames(tmp_path):
    rng = np.random.default_rng(1)
    for i in range(2):
        _write(tmp_path / f"f{i}.png", (rng.random((80, 96)) * 255).astype(np.uint8))
    ds = DegradedThermalDataset(tmp_path, crop=32, scale=4, repeats=3, negatives=True)
    assert len(ds) == 12
    item = ds[4]
    assert item["lr"].shape == (3, 32, 32) and item["label"] == 0 and ds[7]["label"] == 1


def test_subset_splits_without_rereading(pairs):
    full = PairedThermalDataset(pairs, crop=32, scale=4)
    val = full.subset(["b"], augment=False, negatives=False)
    assert [p.name for p in val.pairs] == ["b"] and len(val) == 1 and len(full) == 4
    assert torch.equal(val[0]["hr"], val[0]["hr"])
    with pytest.raises(DataError, match=r"requested pairs \['zz'\]"):
        full.subset(["zz"])


def test_repeats_draw_several_crops_per_pair(pairs):
    ds = PairedThermalDataset(pairs, crop=32, scale=4, augment=False, repeats=3, seed=1)
    assert len(ds) == 12
    names, labels = [ds[i]["name"] for i in range(12)], [ds[i]["label"] for i in range(12)]
    assert names == ["a", "b"] * 6 and labels == [0] * 6 + [1] * 6
    crops_of_a = [ds[i]["hr"] for i in (0, 2, 4)]
    assert not torch.equal(crops_of_a[0], crops_of_a[1]) or not torch.equal(crops_of_a[1], crops_of_a[2])
    assert len(ds.subset(["a"], negatives=False, repeats=5)) == 5
    with pytest.raises(DataError, match="repeats must be at least 1"):
        PairedThermalDataset(pairs, repeats=0)
