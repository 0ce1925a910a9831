"""Registration of real pairs: known synthetic shifts, the real sample pairs' offsets, evaluation and datasets."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from realiisr.data.datasets import PairedThermalDataset
from realiisr.data.io import pil_bicubic, read_frame
from realiisr.data.registration import apply_shift, estimate_shift, shift_border
from realiisr.evaluation.evaluate import evaluate_images


def _psnr(a: torch.Tensor, b: torch.Tensor, crop: int = 16) -> float:
    a, b = a[..., crop:-crop, crop:-crop].double(), b[..., crop:-crop, crop:-crop].double()
    return 10 * math.log10(1 / float(((a - b) ** 2).mean()))


def _smooth_frame(size: int = 160, seed: int = 0) -> torch.Tensor:
    noise = torch.rand(1, 1, size, size, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return F.avg_pool2d(noise, 7, 1, 3, count_include_pad=False)[0]


@pytest.mark.parametrize("shift", [(1.5, -2.25), (0.0, 3.0), (-0.4, 0.7)])
def test_recovers_a_known_subpixel_shift(shift):
    frame = _smooth_frame()
    moved = apply_shift(frame, shift)
    found = estimate_shift(frame, moved)
    assert found == pytest.approx(shift, abs=0.05)
    # and the convention: apply_shift(moving, found) lands on fixed
    error = lambda a: float(((a - moved)[:, 16:-16, 16:-16] ** 2).mean())  # noqa: E731
    assert error(apply_shift(frame, found)) < 1e-3 * error(frame)


def test_bad_input_is_named():
    frame = _smooth_frame()
    with pytest.raises(ValueError, match="moving .* differ in size"):
        estimate_shift(frame, frame[:, :100])
    bad = frame.clone()
    bad[0, 5, 5] = float("nan")
    with pytest.raises(ValueError, match="fixed contains NaN"):
        estimate_shift(frame, bad)
    with pytest.raises(ValueError, match="too small"):
        estimate_shift(frame[:, :40, :40], frame[:, :40, :40])
    assert shift_border((0.3, -2.4)) == 5


def test_the_real_sample_pairs_are_offset_and_registration_recovers_bicubic_psnr(samples_dir):
    """The four real pairs: every HR sits whole HR pixels off its LR; moving it back gains bicubic ≥ 0.2 dB."""
    pairs = samples_dir / "pairs"
    largest = 0.0
    for hr_path in sorted((pairs / "HR").glob("*.png")):
        hr, lr = read_frame(hr_path), read_frame(pairs / "LR" / hr_path.name)
        bicubic = pil_bicubic(lr, *hr.shape[-2:], eight_bit=True)
        shift = estimate_shift(hr, bicubic)
        largest = max(largest, abs(shift[1]))
        crop = shift_border(shift) + 8
        gain = _psnr(bicubic, apply_shift(hr, shift), crop) - _psnr(bicubic, hr, crop)
        assert gain > 0.2, f"{hr_path.name}: shift {shift} gains only {gain:.2f} dB"
    assert largest > 3  # at least one pair is off by several HR pixels


def test_evaluation_registers_the_hr_once_for_every_method():
    hr = _smooth_frame(seed=1).float()
    offset = apply_shift(hr, (0.0, 2.0))  # a method output on a grid 2 px away
    plain = evaluate_images([("x", {"bicubic": offset, "model": offset}, hr)])
    registered = evaluate_images([("x", {"bicubic": offset, "model": offset}, hr)], register=True)
    assert registered.registration["x"] == pytest.approx((0.0, 2.0), abs=0.05)  # HR moved onto the outputs
    for before, after in zip(plain.rows, registered.rows):
        assert after["psnr"] > before["psnr"] + 10
    assert "Registered" in registered.markdown() and "(+0.00, +2.00)" in registered.markdown()


def test_registered_training_pairs_agree_better_with_their_lr(samples_dir):
    """Over 32 crops of one pair, the LR (bicubic) matches the registered HR crops ≥ 0.5 dB better."""
    kwargs = dict(crop=128, scale=4, augment=False, negatives=False, names=["000191_1"], repeats=32, on_error="skip")
    plain = PairedThermalDataset(samples_dir / "pairs", **kwargs)
    registered = PairedThermalDataset(samples_dir / "pairs", register=True, **kwargs)

    def mean_error(dataset):
        items = [dataset[i] for i in range(len(dataset))]
        assert all(item["hr"].shape == item["lr"].shape == (3, 128, 128) for item in items)
        return sum(float(((item["lr"] - item["hr"])[:, 4:-4, 4:-4] ** 2).mean()) for item in items) / len(items)

    gain = 10 * math.log10(mean_error(plain) / mean_error(registered))
    assert abs(registered.shifts["000191_1"].dx) > 2 and not plain.shifts
    assert gain > 0.5, f"registration gained {gain:.2f} dB"


def test_similarity_recovers_a_known_magnification_and_shift(samples_dir):
    from realiisr.data.registration import Similarity, apply_similarity, estimate_similarity

    hr = read_frame(samples_dir / "pairs" / "HR" / "000191_1.png")
    truth = Similarity(1.018, -2.4, 5.3)
    moved = apply_similarity(hr.double(), truth).float()
    found = estimate_similarity(hr, moved)
    assert found.scale == pytest.approx(truth.scale, abs=1.5e-3)
    assert (found.dy, found.dx) == pytest.approx((truth.dy, truth.dx), abs=0.15)
    identity = apply_similarity(hr.double(), Similarity())
    assert torch.allclose(identity, hr.double(), atol=1e-6)


def test_similarity_aligns_real_pairs_better_than_a_shift(samples_dir):
    """On every sample pair, similarity registration + gain/offset scores bicubic higher than shift-only."""
    from realiisr.data.registration import apply_similarity, estimate_similarity, fit_gain_offset
    from realiisr.evaluation.metrics import psnr

    def score(bicubic, target, crop):
        a, b = bicubic.double()[..., crop:-crop, crop:-crop], target[..., crop:-crop, crop:-crop]
        gain, offset = fit_gain_offset(a, b)
        return float(psnr((gain * a + offset)[None].clamp(0, 1), b[None]))

    for name in ["000009_0", "000191_1", "000822_0", "001135_1"]:
        hr = read_frame(samples_dir / "pairs" / "HR" / f"{name}.png")
        bicubic = pil_bicubic(read_frame(samples_dir / "pairs" / "LR" / f"{name}.png"), 512, 512, eight_bit=True)
        sim = estimate_similarity(hr, bicubic)
        crop = sim.border((512, 512))
        shift = estimate_shift(hr, bicubic)
        aligned = score(bicubic, apply_similarity(hr.double(), sim), crop)
        shifted = score(bicubic, apply_shift(hr.double(), shift), crop)
        assert 0.97 < sim.scale < 1.03
        assert aligned > shifted + 0.3, (name, aligned, shifted)
        assert 30.0 < aligned < 33.5
