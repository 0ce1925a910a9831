"""Invariances of the shipped model's default upscale: what any restoration must leave alone.

A constant frame stays constant (its borders and the tile seams included), a linear ramp stays monotonic, and
the output's mean grey level stays that of bicubic on the real sample pairs (no brightness shift)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import realiisr
from realiisr.data.io import pil_bicubic


@pytest.fixture(scope="module")
def shipped():
    return realiisr.build("real_iisr_x4_flir", pretrained=True).eval()


@pytest.mark.parametrize("shape", [(64, 80), (20, 40), (100, 33)])
def test_a_constant_frame_stays_constant_to_its_borders(shipped, shape):
    # float32: bf16 rounding of the tile-edge detail adds one more level on ~0.1 % of mid-grey pixels
    for value in (0, 37, 128, 255):
        out = shipped.upscale(np.full(shape, value, np.uint8), dtype="float32")
        assert out.shape == (shape[0] * 4, shape[1] * 4)
        error = np.abs(out.astype(int) - value)
        assert error.max() <= 1, (shape, value, np.argwhere(error > 1)[:5])


def test_a_constant_frame_in_bfloat16_stays_within_two_levels(shipped):
    out = shipped.upscale(np.full((48, 72), 128, np.uint8), dtype="bfloat16").astype(int)
    assert np.abs(out - 128).max() <= 2 and (np.abs(out - 128) > 1).mean() < 0.005


@pytest.mark.parametrize("low, high, width", [(0, 255, 96), (60, 120, 64)])
def test_a_linear_ramp_stays_monotonic(shipped, low, high, width):
    """No output step goes down by more than one grey level, and the profile of 4×4-block means (one block
    per LR pixel) rises wherever the LR rises: the model adds no ringing or texture across a smooth ramp."""
    frame = np.tile(np.linspace(low, high, width), (40, 1)).round().astype(np.uint8)
    out = shipped.upscale(frame, dtype="float32").astype(float)
    assert np.diff(out, axis=1).min() >= -1
    profile = np.diff(out.reshape(40, 4, width, 4).mean(axis=(0, 1, 3)))
    rises = np.diff(frame[0].astype(int)) > 0  # the rounded LR has flat steps (60 levels over 63 pixels)
    # where the LR is flat the two blocks are equal up to 8-bit rounding of a few pixels (1/640 of a level each),
    # which differs between CPUs; a real fall is a whole level over many pixels
    assert profile[rises].min() > 0 and profile.min() >= -0.05, (np.where(profile <= 0)[0], np.where(~rises)[0])


def test_the_mean_grey_level_is_bicubics_on_every_sample_pair(shipped, samples_dir):
    for path in sorted((samples_dir / "pairs" / "LR").glob("*.png")):
        lr = np.asarray(Image.open(path).convert("L"))
        out = shipped.upscale(lr).astype(float)
        bicubic = pil_bicubic(torch.from_numpy(lr / 255.0).float()[None], *out.shape, eight_bit=True)[0].numpy() * 255
        assert abs(out.mean() - bicubic.mean()) <= 0.01 * bicubic.mean(), (path.name, out.mean(), bicubic.mean())
