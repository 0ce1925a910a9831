"""The ``flir_iisr`` degradation preset against the real LR of the sample pairs (the evidence behind it)."""
from __future__ import annotations

import statistics

import pytest
import torch

from realiisr.data.calibration import (camera_statistics, camera_steps, fit_lr_formation, preset_residuals,
                                      synthetic_laplacian_ratio)
from realiisr.data.degradations import PRESETS, preset_pipeline
from realiisr.data.io import read_frame

PAIRS = ["000009_0", "000191_1", "000822_0", "001135_1"]


@pytest.fixture(scope="module")
def calibration(samples_dir):
    """Per pair: the fitted formation and the residuals of 12 draws of the calibrated and the generic preset."""
    root = samples_dir / "pairs"
    out = {}
    for name in PAIRS:
        hr, lr = read_frame(root / "HR" / f"{name}.png"), read_frame(root / "LR" / f"{name}.png")
        out[name] = (fit_lr_formation(hr, lr), preset_residuals(hr, lr, "flir_iisr", draws=12),
                     preset_residuals(hr, lr, "default", draws=12))
    return out


@pytest.mark.parametrize("name", PAIRS)
def test_fitted_formation_explains_the_real_lr_better_than_bicubic(calibration, name):
    """A blurred, area-averaged registered HR comes ≥ 1 grey level closer to the real LR than bicubic down-sampling,
    and the fitted width lies inside the preset's range."""
    fit = calibration[name][0]
    assert fit.residual < fit.bicubic_residual - 1.0, fit
    assert 0.97 < fit.similarity.scale < 1.03
    assert 1.0 <= (fit.width if fit.psf == "gaussian" else fit.width / 1.5) <= 9.0
    assert 1.0 < fit.gain < 1.25  # the camera's AGC changed between the captures


@pytest.mark.parametrize("name", PAIRS)
def test_preset_draws_resemble_the_real_lr(calibration, name):
    """The preset covers each pair (its best draw beats bicubic down-sampling) and its typical draw is closer to
    the real LR than the generic ``default`` preset's."""
    fit, calibrated, generic = calibration[name]
    assert min(calibrated) < fit.bicubic_residual - 0.3
    assert statistics.median(calibrated) < statistics.median(generic)


def test_preset_is_closer_than_bicubic_on_average(calibration):
    typical = statistics.mean(statistics.median(c) for _, c, _ in calibration.values())
    bicubic = statistics.mean(fit.bicubic_residual for fit, _, _ in calibration.values())
    assert typical < bicubic - 0.5, (typical, bicubic)


def test_presets_build_and_end_on_the_lr_grid():
    generator = torch.Generator().manual_seed(0)
    frame = torch.rand(1, 64, 64, generator=generator)
    for name in PRESETS:
        out = preset_pipeline(name, 4)(frame, generator)
        assert out.shape == (1, 16, 16) and 0 <= float(out.min()) and float(out.max()) <= 1
    quantized = preset_pipeline("flir_iisr", 4)(frame, generator)
    assert torch.equal(quantized, torch.round(quantized * 255) / 255)  # stored at 8 bits
    with pytest.raises(ValueError, match="unknown degradation preset 'nope'"):
        preset_pipeline("nope")


@pytest.fixture(scope="module")
def camera(samples_dir):
    root = samples_dir / "pairs"
    return {name: camera_statistics(read_frame(root / "HR" / f"{name}.png"), read_frame(root / "LR" / f"{name}.png"))
            for name in PAIRS}


@pytest.mark.parametrize("name", PAIRS)
def test_real_lr_carries_more_fine_detail_energy_than_its_blur_fit(camera, name):
    """What the best blur + area fit misses (the evidence behind ``flir_iisr_camera``): real LR holds 1.1–2×
    the fit's Laplacian energy, worth ~1–1.7 grey levels of white noise, and a low-frequency residual of ~1–1.5
    levels; row/column stripes stay below a grey level."""
    stats = camera[name]
    assert 1.1 < stats.lap_ratio < 2.0, stats
    assert 0.7 < stats.noise < 2.0 and 0.6 < stats.low < 2.0, stats
    assert stats.rows < 1.0 and stats.columns < 1.0, stats
    assert stats.low < stats.residual  # the rest of the residual is the high-frequency part


def test_camera_steps_span_the_pairs_and_raise_synthetic_detail_energy(camera, samples_dir):
    """Steps built from three pairs, checked on the fourth (leave one pair out): adding them moves the Laplacian
    ratio of the held-out pair from the noise-free fit's towards 1."""
    steps = camera_steps([camera[n] for n in PAIRS])
    agc, noise, stripes = steps
    assert agc["rms"][0] == pytest.approx(min(s.low for s in camera.values()) / 255)
    assert noise["read"][1] == pytest.approx(max(s.noise for s in camera.values()) / 255)
    assert stripes["column_std"][1] > 0 and stripes["row_std"][1] > 0
    held, others = "001135_1", [camera[n] for n in PAIRS if n != "001135_1"]
    root = samples_dir / "pairs"
    hr, lr = read_frame(root / "HR" / f"{held}.png"), read_frame(root / "LR" / f"{held}.png")
    bare = synthetic_laplacian_ratio(hr, lr, [], draws=2)
    with_camera = synthetic_laplacian_ratio(hr, lr, camera_steps(others), draws=4)
    assert bare > 1.1 and abs(with_camera - 1) < abs(bare - 1), (bare, with_camera)


def test_local_agc_is_a_smooth_zero_mean_field_of_the_drawn_rms():
    from realiisr.data.degradations import LocalAGC

    frame = torch.full((1, 96, 120), 0.5)
    out = LocalAGC(rms=(0.004, 0.004), cell=12)(frame, torch.Generator().manual_seed(1))
    field = out - frame
    assert float(field.mean()) == pytest.approx(0, abs=1e-6)
    assert float(field.square().mean().sqrt()) == pytest.approx(0.004, rel=1e-3)
    # smooth: neighbouring pixels differ by a small fraction of the field's range
    assert float(torch.diff(field, dim=-1).abs().max()) < 0.2 * float(field.max() - field.min())
    again = LocalAGC(rms=(0.004, 0.004), cell=12)(frame, torch.Generator().manual_seed(1))
    assert torch.equal(out, again)
