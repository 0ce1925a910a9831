"""BRISQUE: LIVE's features and the brisque wheel's SVR, checked against OpenCV contrib's implementation of the
same features; the model files read as plain data only."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

brisque_module = pytest.importorskip("realiisr.evaluation.brisque")
pytest.importorskip("cv2", reason="BRISQUE uses OpenCV's filters (opencv-python-headless)")


@pytest.fixture(scope="module")
def model():
    try:
        return brisque_module.load_model()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def hr(sample_frame):
    return sample_frame("pairs/HR/000009_0.png")


def test_matches_opencv_contrib(model, hr):
    # OpenCV contrib 5.1.0's cv2.quality.QualityBRISQUE_computeFeatures on this frame (float32 throughout),
    # scored by libsvm 3.37's svm_predict with the wheel's model: 45.7022. Ours computes in float64, so a
    # moment ratio can land one 0.001 step of the shape grid away.
    assert brisque_module.brisque(hr, model) == pytest.approx(45.7022, abs=0.05)
    features = brisque_module.brisque_features(hr)
    assert features.shape == (36,)
    assert features[:4] == pytest.approx([1.842, 0.098924, 0.580, 0.021116], abs=2e-4)  # OpenCV's first four


def test_blur_raises_the_score(model, hr):
    import cv2

    blurred = torch.from_numpy(cv2.GaussianBlur(hr[0].numpy(), (0, 0), 3))[None]
    assert brisque_module.brisque(blurred, model) > brisque_module.brisque(hr, model) + 10


def test_model_files_are_plain_data_only(model, tmp_path):
    folder = brisque_module.default_model_dir()
    (tmp_path / "svm.txt").write_text((folder / "svm.txt").read_text())
    with open(tmp_path / "normalize.pickle", "wb") as handle:
        pickle.dump({"min_": np.zeros(36), "max_": np.ones(36)}, handle)  # numpy arrays need a class: refused
    with pytest.raises(pickle.UnpicklingError, match="refusing to load numpy"):
        brisque_module.load_model(tmp_path)
    (tmp_path / "svm.txt").write_text("svm_type c_svc\nkernel_type linear\nSV\n")
    with pytest.raises(ValueError, match="expected an RBF epsilon-SVR"):
        brisque_module.load_model(tmp_path)
    with pytest.raises(FileNotFoundError, match="svm.txt does not exist"):
        brisque_module.load_model(tmp_path / "nowhere")
