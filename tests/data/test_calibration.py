"""The ``flir_iisr`` degradation preset against the real LR of the sample pairs (the evidence behind it)."""
from __future__ import annotations

import statistics

import pytest
import torch

from realiisr.data.calibration import fit_lr_formation, preset_residuals
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
