"""NIQE offline: the standard model's score equals an independent MATLAB-faithful implementation (pyiqa's) within
0.01, the half-scale resize is MATLAB's, and the shipped thermal model prefers sharp thermal frames to blurred ones."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from realiisr.evaluation.niqe import _halve, fit_model, niqe, standard_model, thermal_model


@pytest.fixture(scope="module")
def standard(shared_dir):
    path = shared_dir / "data" / "metrics" / "niqe_pris_params.npz"
    if not path.is_file():
        pytest.skip(f"{path} is absent (the standard NIQE parameters live in ../shared)")
    return standard_model(path), path


def _frames(shared_dir, names):
    out = []
    for name in names:
        path = shared_dir / "data" / name
        if not path.is_file():
            pytest.skip(f"{path} is absent")
        out.append(np.asarray(Image.open(path).convert("L")).astype(np.float64) / 255)
    return out


REAL = ["flir-iisr-samples/pairs/HR/000009_0.png", "thermal-frames/tno/FEL_images_Tree_sequence_thermal_4900i.png",
        "flir-iisr-samples/pairs/LR/000009_0.png"]


def test_standard_niqe_matches_pyiqa_within_a_hundredth(standard, shared_dir):
    pytest.importorskip("pyiqa")
    from pyiqa.archs.niqe_arch import calculate_niqe

    model, path = standard
    with np.load(path) as data:
        mu, cov = torch.from_numpy(data["mu_pris_param"]), torch.from_numpy(data["cov_pris_param"])
    for frame in _frames(shared_dir, REAL):  # 512², 360×270 and a single-block 128² LR
        ours = niqe(frame, model)
        theirs = float(calculate_niqe(torch.from_numpy(frame)[None, None], 0, mu_pris_param=mu, cov_pris_param=cov))
        assert ours == pytest.approx(theirs, abs=0.01)
    assert niqe(_frames(shared_dir, REAL[:1])[0], model) == pytest.approx(7.4416, abs=0.01)


def test_half_scale_resize_is_matlabs():
    pytest.importorskip("pyiqa")
    from pyiqa.matlab_utils import imresize

    x = np.random.default_rng(0).random((101, 150))
    ref = imresize(torch.from_numpy(x)[None, None], scale=0.5, antialiasing=True)[0, 0].numpy()
    assert np.abs(ref - _halve(x)).max() < 1e-6


def test_thermal_model_prefers_sharp_frames(shared_dir):
    model = thermal_model()
    assert model.mean.shape == (36,) and model.cov.shape == (36, 36) and "frames" in model.source
    for frame in _frames(shared_dir, REAL[:2]):
        image = Image.fromarray(np.round(frame * 255).astype(np.uint8))
        small = image.resize((image.width // 4, image.height // 4), Image.BOX)
        blurred = np.asarray(small.resize(image.size, Image.BICUBIC)).astype(np.float64) / 255
        assert niqe(blurred, model) > niqe(frame, model) + 1.0


def test_fit_and_errors(tmp_path):
    rng = np.random.default_rng(0)
    frames = [np.clip(0.5 + 0.2 * rng.standard_normal((192, 192)), 0, 1) for _ in range(12)]
    model = fit_model(frames, source="noise", sharpness=None)
    model.save(tmp_path / "m.npz")
    again = standard_model(tmp_path / "m.npz")
    np.testing.assert_allclose(again.cov, model.cov)
    assert again.source == "noise"
    assert niqe(frames[0], again) < niqe(np.full((192, 192), 0.5) + 0.01 * rng.standard_normal((192, 192)), again)
    with pytest.raises(ValueError, match="smaller than one 96x96 block"):
        niqe(np.zeros((50, 200)), model)
    with pytest.raises(ValueError, match="need at least 37"):
        fit_model(frames[:1], sharpness=None)
    with pytest.raises(FileNotFoundError, match="nothing is downloaded"):
        standard_model(tmp_path / "absent.npz")
