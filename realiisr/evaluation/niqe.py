"""NIQE (Mittal, Soundararajan, Bovik, IEEE SPL 2013), offline: the standard model and a thermal one.

A no-reference score: 36 natural-scene statistics (AGGD fits of the mean-subtracted, contrast-normalised pixels
and of their products with four neighbours, at full and half resolution) are computed on 96×96 blocks, a
multivariate Gaussian is fitted to them, and the score is the distance of that Gaussian to a model fitted on
pristine images — lower is better. The computation follows the MATLAB release as BasicSR's ``calculate_niqe``
does (grey on 0–255, rounded; 7×7 Gaussian window with replicated borders; MATLAB's antialiased bicubic halving).

- :func:`standard_model` reads the standard pristine model (``niqe_pris_params.npz``: BasicSR's copy of the
  NIQE release, Apache-2.0; credit the paper above with any score) from a path: nothing is downloaded.
- :func:`fit_model` fits the same kind of model on frames of your choice — the *thermal NIQE* fits it on sharp HR
  thermal frames, since the standard model's pristine images are visible-light photographs whose statistics thermal
  frames do not share (``realiisr evaluate --fit-niqe HR_DIR -o model.npz``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Union

import numpy as np

__all__ = ["NiqeModel", "standard_model", "thermal_model", "fit_model", "fit_folder", "niqe", "niqe_features",
           "no_reference_scores"]

BLOCK = 96
#: The thermal model that ships (fitted by ``realiisr evaluate --fit-niqe``; how: docs/metrics.md).
THERMAL_MODEL = Path(__file__).with_name("thermal_niqe.npz")
_SHIFTS = ((0, 1), (1, 0), (1, 1), (1, -1))


@dataclass
class NiqeModel:
    """The pristine multivariate Gaussian: mean ``[36]`` and covariance ``[36, 36]``, and where it came from."""

    mean: np.ndarray
    cov: np.ndarray
    source: str = ""

    def save(self, path: Union[str, Path]) -> None:
        np.savez(path, mu_pris_param=self.mean[None], cov_pris_param=self.cov, source=np.array(self.source))


def standard_model(path: Union[str, Path]) -> NiqeModel:
    """The model in a ``niqe_pris_params.npz``-style file (keys ``mu_pris_param``, ``cov_pris_param``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"NIQE model {str(path)!r} not found (the standard one is "
                                "../shared/data/metrics/niqe_pris_params.npz; nothing is downloaded)")
    with np.load(path, allow_pickle=False) as data:
        missing = {"mu_pris_param", "cov_pris_param"} - set(data.files)
        if missing:
            raise ValueError(f"NIQE model {str(path)!r} lacks {sorted(missing)}")
        source = str(data["source"]) if "source" in data.files else path.name
        return NiqeModel(np.asarray(data["mu_pris_param"], np.float64).reshape(-1),
                         np.asarray(data["cov_pris_param"], np.float64), source)


def thermal_model() -> NiqeModel:
    """The shipped thermal NIQE model (:data:`THERMAL_MODEL`)."""
    return standard_model(THERMAL_MODEL)


def _gaussian_window() -> np.ndarray:
    """MATLAB's fspecial('gaussian', 7, 7/6), normalised."""
    x = np.arange(-3, 4, dtype=np.float64)
    g = np.exp(-(x[:, None] ** 2 + x[None] ** 2) / (2 * (7 / 6) ** 2))
    return g / g.sum()


def _cubic(x: np.ndarray) -> np.ndarray:
    ax = np.abs(x)
    return ((1.5 * ax ** 3 - 2.5 * ax ** 2 + 1) * (ax <= 1)
            + (-0.5 * ax ** 3 + 2.5 * ax ** 2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2)))


def _halve_axis(image: np.ndarray, axis: int) -> np.ndarray:
    """MATLAB ``imresize(…, 0.5)`` along one axis: bicubic widened ×2 (antialiasing), symmetric borders."""
    n = image.shape[axis]
    out = math.ceil(n / 2)
    centres = (np.arange(out) + 0.5) * 2 - 0.5  # input coordinate of each output pixel (0-based)
    left = np.floor(centres - 4).astype(int)[:, None] + np.arange(10)[None]  # 10 taps cover the 8-px kernel
    weights = _cubic((centres[:, None] - left) / 2) / 2
    weights /= weights.sum(axis=1, keepdims=True)
    index = np.concatenate([np.arange(n), np.arange(n)[::-1]])  # MATLAB's symmetric padding
    source = index[np.mod(left, 2 * n)]
    moved = np.moveaxis(image, axis, 0)
    result = np.einsum("ok,ok...->o...", weights, moved[source])
    return np.moveaxis(result, 0, axis)


def _halve(image: np.ndarray) -> np.ndarray:
    return _halve_axis(_halve_axis(image, 0), 1)


def _aggd(values: np.ndarray) -> tuple[float, float, float]:
    """(alpha, left scale, right scale) of an asymmetric generalised Gaussian, by moment matching on a grid."""
    from scipy.special import gamma

    values = values.reshape(-1)
    grid = np.arange(0.2, 10.001, 0.001)
    ratio = gamma(2 / grid) ** 2 / (gamma(1 / grid) * gamma(3 / grid))
    left = math.sqrt(np.mean(values[values < 0] ** 2)) if (values < 0).any() else 0.0
    right = math.sqrt(np.mean(values[values > 0] ** 2)) if (values > 0).any() else 0.0
    square = float(np.mean(values ** 2))
    if right == 0 or square == 0:
        return float("nan"), float("nan"), float("nan")
    g = left / right
    r = float(np.mean(np.abs(values))) ** 2 / square
    r_norm = r * (g ** 3 + 1) * (g + 1) / (g ** 2 + 1) ** 2
    alpha = float(grid[np.argmin((ratio - r_norm) ** 2)])
    spread = math.sqrt(gamma(1 / alpha) / gamma(3 / alpha))
    return alpha, left * spread, right * spread


def _block_features(block: np.ndarray) -> list[float]:
    from scipy.special import gamma

    alpha, left, right = _aggd(block)
    feats = [alpha, (left + right) / 2]
    for shift in _SHIFTS:
        alpha, left, right = _aggd(block * np.roll(block, shift, axis=(0, 1)))
        mean = (right - left) * gamma(2 / alpha) / gamma(1 / alpha) if np.isfinite(alpha) else float("nan")
        feats += [alpha, mean, left, right]
    return feats


def niqe_features(image: np.ndarray) -> np.ndarray:
    """``[blocks, 36]`` features of a grey frame on the 0–255 scale (cropped to whole 96×96 blocks)."""
    from scipy.ndimage import correlate

    rows, cols = image.shape[0] // BLOCK, image.shape[1] // BLOCK
    if rows == 0 or cols == 0:
        raise ValueError(f"NIQE: the frame {image.shape[1]}x{image.shape[0]} is smaller than one {BLOCK}x{BLOCK} block")
    image = image[: rows * BLOCK, : cols * BLOCK].astype(np.float64)
    window = _gaussian_window()
    scales = []
    for scale in (1, 2):
        mu = correlate(image, window, mode="nearest")
        sigma = np.sqrt(np.abs(correlate(image * image, window, mode="nearest") - mu * mu))
        normalised = (image - mu) / (sigma + 1)
        size = BLOCK // scale
        scales.append(np.array([_block_features(normalised[r * size:(r + 1) * size, c * size:(c + 1) * size])
                                for r in range(rows) for c in range(cols)]))
        if scale == 1:
            image = _halve(image / 255.0) * 255.0
    return np.concatenate(scales, axis=1)


def _prepare(frame) -> np.ndarray:
    """A frame (``[h, w]`` / ``[1, h, w]`` array or tensor in [0, 1], or uint8) on 0–255, rounded as MATLAB's."""
    array = frame.detach().double().cpu().numpy() if hasattr(frame, "detach") else np.asarray(frame)
    array = array.reshape(array.shape[-2:]) if array.ndim == 3 and array.shape[0] == 1 else array
    if array.ndim != 2:
        raise ValueError(f"NIQE: expected a grey frame, got shape {array.shape}")
    scaled = array.astype(np.float64) if array.dtype == np.uint8 else array.astype(np.float64) * 255.0
    return np.round(scaled)


def niqe(frame, model: NiqeModel, border: int = 0) -> float:
    """The NIQE score of ``frame`` (lower: closer to ``model``'s pristine frames)."""
    image = _prepare(frame)
    if border:
        image = image[border:-border, border:-border]
    feats = niqe_features(image)
    mean = np.nanmean(feats, axis=0)
    usable = feats[~np.isnan(feats).any(axis=1)]
    # one block has no spread of its own: the pristine covariance alone (pyiqa's nancov gives the same)
    cov = np.cov(usable, rowvar=False) if len(usable) > 1 else np.zeros_like(model.cov)
    diff = model.mean - mean
    return float(np.sqrt(diff @ np.linalg.pinv((model.cov + cov) / 2) @ diff))


def fit_model(frames: Iterable, source: str = "", sharpness: Optional[float] = 0.75) -> NiqeModel:
    """A pristine model fitted on ``frames`` as the NIQE paper fits its own: features of the blocks whose
    sharpness (mean local deviation) is at least ``sharpness`` × the frame's sharpest block's, over every frame."""
    from scipy.ndimage import correlate

    chosen = []
    window = _gaussian_window()
    for frame in frames:
        image = _prepare(frame)
        feats = niqe_features(image)
        if sharpness is not None:
            rows, cols = image.shape[0] // BLOCK, image.shape[1] // BLOCK
            crop = image[: rows * BLOCK, : cols * BLOCK]
            mu = correlate(crop, window, mode="nearest")
            sigma = np.sqrt(np.abs(correlate(crop * crop, window, mode="nearest") - mu * mu))
            blocks = sigma.reshape(rows, BLOCK, cols, BLOCK).mean(axis=(1, 3)).reshape(-1)
            feats = feats[blocks >= sharpness * blocks.max()]
        chosen.append(feats)
    feats = np.concatenate(chosen)
    feats = feats[~np.isnan(feats).any(axis=1)]
    if len(feats) < 37:
        raise ValueError(f"NIQE fit: {len(feats)} usable blocks, need at least 37 for a 36-dimensional covariance")
    return NiqeModel(feats.mean(axis=0), np.cov(feats, rowvar=False), source)


def fit_folder(folders: Iterable[Union[str, Path]], sharpness: Optional[float] = 0.75) -> NiqeModel:
    """:func:`fit_model` over every frame of ``folders`` at least one block in size (its source names how many)."""
    from realiisr.data.io import IMAGE_SUFFIXES, read_frame

    paths = sorted(p for folder in folders for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    frames = [f for f in (read_frame(p) for p in paths) if min(f.shape[-2:]) >= BLOCK]
    if not frames:
        raise ValueError(f"NIQE fit: no frame of at least {BLOCK}x{BLOCK} in {[str(f) for f in folders]}")
    names = ", ".join(Path(f).name for f in folders)
    return fit_model(frames, source=f"fitted on {len(frames)} frames of {names}", sharpness=sharpness)


def no_reference_scores(standard: Optional[Union[str, Path]] = None) -> dict[str, Callable[[Any], float]]:
    """The no-reference columns of the evaluation tables: ``niqe_thermal`` always, ``niqe`` given the standard
    model's file; each NaN for a frame smaller than one 96×96 block."""
    models = {"niqe_thermal": thermal_model()}
    if standard is not None:
        models["niqe"] = standard_model(standard)

    def scorer(model: NiqeModel) -> Callable[[Any], float]:
        return lambda frame: niqe(frame, model) if min(frame.shape[-2:]) >= BLOCK else float("nan")

    return {name: scorer(model) for name, model in models.items()}
