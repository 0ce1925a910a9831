"""Radiometric frames keep their counts: block means of the output equal the input, one mapping per sequence,
temperatures in float TIFF in and out."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

import realiisr
from realiisr.camera.radiometric import back_project, block_means, shared_range
from realiisr.cli import main


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return realiisr.build("real_iisr_x4_tiny").eval()


def _counts(seed: int, low: float, high: float, h=24, w=32) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    smooth = np.sin(x / 4.0) * np.cos(y / 5.0) + 0.3 * rng.standard_normal((h, w))
    smooth = (smooth - smooth.min()) / np.ptp(smooth)
    return np.round(low + smooth * (high - low)).astype(np.uint16)


def test_back_projection_makes_block_means_the_input():
    torch.manual_seed(0)
    lr = torch.rand(12, 10, dtype=torch.float64)
    sr = torch.rand(48, 40, dtype=torch.float64)
    out = back_project(sr, lr, 4)
    torch.testing.assert_close(block_means(out, 4), lr, atol=1e-12, rtol=0)
    consistent = lr.repeat_interleave(4, 0).repeat_interleave(4, 1)
    torch.testing.assert_close(back_project(consistent, lr, 4), consistent, atol=1e-12, rtol=0)  # nothing to move
    with pytest.raises(ValueError, match="not ×4 of the input"):
        back_project(sr[:-1], lr, 4)


def test_sixteen_bit_block_means_are_the_input_counts(samples_dir):
    """The bar: a 16-bit frame of counts 20000–28000 (a real LR frame's pattern), shipped model: the 4×4 block
    means of the output equal the input within 0.5 % of the range (they do within rounding: 0.5 counts)."""
    real = np.asarray(Image.open(samples_dir / "pairs" / "LR" / "000191_1.png").convert("L"))[20:60, 30:70]
    counts = np.round(20000 + (real - real.min()) / np.ptp(real) * 8000).astype(np.uint16)
    model = realiisr.build("real_iisr_x4_flir", pretrained=True).eval()
    out = model.upscale(counts)
    assert out.dtype == np.uint16 and out.shape == (160, 160)
    error = np.abs(out.astype(np.float64).reshape(40, 4, 40, 4).mean(axis=(1, 3)) - counts)
    assert error.max() <= 0.5 + 1e-9  # rounding of the output counts only
    assert error.max() <= 0.005 * 8000
    without = model.upscale(counts, radiometric=False)  # the plain mapping drifts by tens of counts
    assert np.abs(without.astype(np.float64).reshape(40, 4, 40, 4).mean(axis=(1, 3)) - counts).max() > 5


def test_a_sequence_shares_one_mapping(tiny, tmp_path):
    weights = tmp_path / "tiny.safetensors"
    save_file({k: v.contiguous() for k, v in tiny.state_dict().items()}, str(weights))
    (tmp_path / "in").mkdir()
    frames = {"a.tif": _counts(0, 20000, 24000), "b.tif": _counts(1, 21000, 28000)}
    for name, frame in frames.items():
        Image.fromarray(frame).save(tmp_path / "in" / name)
    assert shared_range(frames.values()) == (20000.0, 28000.0)
    common = ["--recipe", "real_iisr_x4_tiny", "--weights", str(weights), "--batch-size", "8", "--overlap", "2"]
    assert main(["upscale", str(tmp_path / "in"), "-o", str(tmp_path / "out"), *common]) == 0
    for name, frame in frames.items():
        from_cli = np.asarray(Image.open(tmp_path / "out" / name))
        shared = tiny.upscale(frame, value_range=(20000, 28000), overlap=2, batch_size=8)
        np.testing.assert_array_equal(from_cli, shared)  # the run's range, not each frame's own
    own = tiny.upscale(frames["a.tif"], overlap=2, batch_size=8)
    assert not np.array_equal(own, np.asarray(Image.open(tmp_path / "out" / "a.tif")))
    assert main(["upscale", str(tmp_path / "in" / "a.tif"), "-o", str(tmp_path / "given"), "--range", "20000:28000",
                 *common]) == 0
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "given" / "a.tif")),
                                  np.asarray(Image.open(tmp_path / "out" / "a.tif")))


def test_float_temperatures_in_and_out(tiny, tmp_path):
    celsius = (15.0 + _counts(2, 0, 2500) / 100.0).astype(np.float32)  # 15–40 °C
    Image.fromarray(celsius, mode="F").save(tmp_path / "celsius.tif")
    out = tiny.upscale(Image.open(tmp_path / "celsius.tif"), overlap=2, batch_size=8)
    assert out.mode == "F"
    values = np.asarray(out, dtype=np.float64)
    np.testing.assert_allclose(values.reshape(24, 4, 32, 4).mean(axis=(1, 3)), celsius, atol=2e-3)
    # the temperatures reached the model through their own range (random weights here: no claim on detail)
    assert values.std() > 1.0
