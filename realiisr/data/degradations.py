"""Infrared degradation synthesis: a configurable pipeline of registered degradations.

Each degradation maps a ``[C, H, W]`` float frame in [0, 1] (HR grid) to a degraded frame, drawing every
random quantity from the ``torch.Generator`` it is given, so a pipeline is deterministic for a seed.
``downsample`` changes the grid (×1/scale); everything else keeps it.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from realiisr.core._registry import Registry

__all__ = ["Degradation", "DEGRADATIONS", "DegradationPipeline", "default_pipeline", "PRESETS", "preset_pipeline",
           "load_pipeline", "load_steps"]


class Degradation:
    """Base class: ``__call__(frame [C, H, W], generator) -> frame``."""

    def __call__(self, frame: Tensor, generator: torch.Generator) -> Tensor:  # pragma: no cover - interface
        raise NotImplementedError


def _check_degradation(obj: Any) -> None:
    if not (isinstance(obj, type) and issubclass(obj, Degradation)):
        raise TypeError(f"expected a realiisr Degradation subclass, got {obj!r}")


#: The degradation steps, by name; plugins add more through the ``realiisr.degradations`` entry-point group.
DEGRADATIONS = Registry("degradation", check=_check_degradation, entry_point_group="realiisr.degradations",
                        locations=("realiisr.data.real_noise",))


def _uniform(generator: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand((), generator=generator))


def _blur(frame: Tensor, kernel: Tensor) -> Tensor:
    """Per-channel convolution with a normalised 2-D kernel and replicated borders."""
    kernel = kernel / kernel.sum()
    kh, kw = kernel.shape
    padded = F.pad(frame.unsqueeze(0), (kw // 2, kw // 2, kh // 2, kh // 2), mode="replicate")
    weight = kernel.to(frame.dtype).expand(frame.shape[0], 1, kh, kw)
    return F.conv2d(padded, weight, groups=frame.shape[0]).squeeze(0)


def _gaussian_kernel(sigma: float) -> Tensor:
    radius = max(1, math.ceil(3 * sigma))
    taps = torch.arange(-radius, radius + 1, dtype=torch.float32)
    g = torch.exp(-(taps**2) / (2 * sigma**2))
    return torch.outer(g, g)


def _disk_kernel(radius: float) -> Tensor:
    size = max(1, math.ceil(radius))
    taps = torch.arange(-size, size + 1, dtype=torch.float32)
    dist = torch.sqrt(taps[:, None] ** 2 + taps[None, :] ** 2)
    return (radius + 0.5 - dist).clamp(0, 1)  # anti-aliased disk


def _smooth_field(h: int, w: int, generator: torch.Generator) -> Tensor:
    """A random smooth map in [0, 1] (bicubic-upsampled 3×3 noise)."""
    coarse = torch.rand(1, 1, 3, 3, generator=generator)
    field = F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=True)[0, 0]
    return (field - field.min()) / (field.max() - field.min()).clamp_min(1e-6)


@DEGRADATIONS.register(name="defocus")
class Defocus(Degradation):
    """Optical defocus: Gaussian or disk PSF; ``spatially_varying`` blends a sharp and a blurred frame through a
    smooth random map, as a tilted focal plane does."""

    def __init__(self, kind: str = "gaussian", sigma: Sequence[float] = (0.6, 2.0), spatially_varying: bool = True,
                 probability_disk: float = 0.0, spread: float = 0.0) -> None:
        if kind not in ("gaussian", "disk", "mixed"):
            raise ValueError(f"defocus kind must be 'gaussian', 'disk' or 'mixed', got {kind!r}")
        if not 0 <= spread < 1:
            raise ValueError(f"defocus spread must be in [0, 1), got {spread}")
        self.kind, self.sigma, self.spatially_varying = kind, tuple(sigma), spatially_varying
        self.probability_disk = 0.5 if kind == "mixed" else float(kind == "disk")
        self.spread = spread

    def _kernel(self, strength: float, use_disk: bool) -> Tensor:
        # a disk of radius 1.5 sigma fits the real pairs as well as the Gaussian of width sigma
        return _disk_kernel(1.5 * strength) if use_disk else _gaussian_kernel(strength)

    def __call__(self, frame: Tensor, generator: torch.Generator) -> Tensor:
        strength = _uniform(generator, *self.sigma)
        use_disk = float(torch.rand((), generator=generator)) < self.probability_disk
        blurred = _blur(frame, self._kernel(strength, use_disk))
        if not self.spatially_varying:
            return blurred
        weight = _smooth_field(frame.shape[-2], frame.shape[-1], generator)
        if self.spread == 0:  # between sharp and blurred
            return frame + (blurred - frame) * (0.4 + 0.6 * weight)
        # the PSF width varies over the frame between (1 - spread) and (1 + spread) times the drawn one
        wider = _blur(frame, self._kernel(strength * (1 + self.spread), use_disk))
        narrower = _blur(frame, self._kernel(max(0.3, strength * (1 - self.spread)), use_disk))
        return narrower + (wider - narrower) * weight


@DEGRADATIONS.register(name="motion_blur")
class MotionBlur(Degradation):
    """Camera shake: a line PSF of random length (pixels) and angle."""

    def __init__(self, length: Sequence[float] = (3.0, 11.0), probability: float = 0.3) -> None:
        self.length, self.probability = tuple(length), probability

    def __call__(self, frame: Tensor, generator: torch.Generator) -> Tensor:
        length = _uniform(generator, *self.length)
        angle = _uniform(generator, 0.0, math.pi)
        if float(torch.rand((), generator=generator)) >= self.probability:
            return frame
        size = int(math.ceil(length)) | 1
        taps = torch.arange(size, dtype=torch.float32) - size // 2
        yy, xx = torch.meshgrid(taps, taps, indexing="ij")
        along = xx * math.cos(angle) + yy * math.sin(angle)
        across = -xx * math.sin(angle) + yy * math.cos(angle)
        kernel = ((across.abs() <= 0.5) & (along.abs() <= length / 2)).float() + 1e-6
        return _blur(frame, kernel)


@DEGRADATIONS.register(name="radiometric_drift")
class RadiometricDrift(Degradation):
    """Gain/offset drift and a smooth vignetting (the LR camera reads slightly differently)."""

    def __init__(self, gain: Sequence[float] = (0.95, 1.05), offset: Sequence[float] = (-0.03, 0.03),
                 vignetting: float = 0.05) -> None:
        self.gain, self.offset, self.vignetting = tuple(gain), tuple(offset), vignetting

    def __call__(self, frame: Tensor, generator: torch.Generator) -> Tensor:
        gain, offset = _uniform(generator, *self.gain), _uniform(generator, *self.offset)
        h, w = frame.shape[-2:]
        y = torch.linspace(-1, 1, h)[:, None]
        x = torch.linspace(-1, 1, w)[None, :]
        falloff = 1 - self.vignetting * (x**2 + y**2) / 2
        return (frame * gain + offset) * falloff.to(frame.dtype)


@DEGRADATIONS.register(name="fixed_pattern_noise")
class FixedPatternNoise(Degradation):
    """Column and row stripes of a microbolometer's non-uniformity."""

    def __init__(self, column_std: Sequence[float] = (0.0, 0.01), row_std: Sequence[float] = (0.0, 0.005)) -> None:
        self.column_std, self.row_std = tuple(column_std), tuple(row_std)

    def __call__(self, frame: Tensor, generator: torch.Generator) -> Tensor:
        c, h, w = frame.shape
        cols = torch.randn(1, 1, w, generator=generator) * _uniform(generator, *self.column_std)
        rows = torch.randn(1, h, 1, generator=generator) * _uniform(generator, *self.row_std)
        return frame + (cols + rows).to(frame.dtype)


@DEGRADATIONS.register(name="sensor_noise")
class SensorNoise(Degradation):
    """Signal-dependent shot noise plus Gaussian read noise (NETD)."""

    def __init__(self, shot: Sequence[float] = (0.0, 0.01), read: Sequence[float] = (0.002, 0.01)) -> None:
        self.shot, self.read = tuple(shot), tuple(read)

    def __call__(self, frame: Tensor, generator: torch.Generator) -> Tensor:
        shot, read = _uniform(generator, *self.shot), _uniform(generator, *self.read)
        std = torch.sqrt(shot**2 * frame.clamp_min(0) + read**2)
        return frame + std * torch.randn(frame.shape, generator=generator, dtype=frame.dtype)


@DEGRADATIONS.register(name="local_agc")
class LocalAGC(Degradation):
    """The camera's local brightness processing: a smooth random offset field (cells of ``cell`` pixels,
    bicubic-interpolated) of RMS ``rms`` — the low-frequency part of what separates real LR from its best blur
    fit (0.9–1.5 grey levels on the FLIR-IISR sample pairs)."""

    def __init__(self, rms: Sequence[float] = (0.0035, 0.006), cell: int = 12) -> None:
        self.rms, self.cell = tuple(rms), int(cell)

    def __call__(self, frame: Tensor, generator: torch.Generator) -> Tensor:
        c, h, w = frame.shape
        rms = _uniform(generator, *self.rms)
        coarse = torch.randn(1, 1, max(2, -(-h // self.cell) + 1), max(2, -(-w // self.cell) + 1), generator=generator)
        field = F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=True)[0]
        field = field - field.mean()
        return frame + (field * (rms / field.square().mean().sqrt().clamp_min(1e-8))).to(frame.dtype)


@DEGRADATIONS.register(name="quantize")
class Quantize(Degradation):
    """Storage at ``bits`` per pixel (FLIR-IISR's LR frames are 8-bit)."""

    def __init__(self, bits: int = 8) -> None:
        if not 1 <= bits <= 16:
            raise ValueError(f"quantize bits must be in [1, 16], got {bits}")
        self.levels = float(2**bits - 1)

    def __call__(self, frame: Tensor, generator: torch.Generator) -> Tensor:
        return torch.round(frame.clamp(0, 1) * self.levels) / self.levels


@DEGRADATIONS.register(name="downsample")
class Downsample(Degradation):
    """Resolution loss by ``scale`` (2, 4 or 8) with area averaging (the sensor integrates over its pixels)."""

    def __init__(self, scale: int = 4) -> None:
        if scale not in (2, 4, 8):
            raise ValueError(f"downsample scale must be 2, 4 or 8, got {scale}")
        self.scale = scale

    def __call__(self, frame: Tensor, generator: torch.Generator) -> Tensor:
        h, w = frame.shape[-2:]
        if h % self.scale or w % self.scale:
            raise ValueError(f"downsample: a {h}x{w} frame is not divisible by {self.scale}")
        return F.avg_pool2d(frame.unsqueeze(0), self.scale).squeeze(0)


SpecLike = Union[str, Mapping[str, Any]]


class DegradationPipeline:
    """Registered degradations applied in order; the result is clamped to [0, 1]."""

    def __init__(self, steps: Sequence[SpecLike]) -> None:
        self.specs = [dict(s) if isinstance(s, Mapping) else {"type": s} for s in steps]
        self.steps = [DEGRADATIONS.build(spec) for spec in self.specs]

    def __call__(self, frame: Tensor, generator: torch.Generator) -> Tensor:
        for step in self.steps:
            frame = step(frame, generator)
        return frame.clamp(0, 1)


def _default_steps(scale: int) -> list[dict[str, Any]]:
    """Defocus or shake, radiometric drift, down-sampling, then sensor and fixed-pattern noise on the LR grid."""
    return [
        {"type": "defocus", "kind": "mixed"},
        {"type": "motion_blur"},
        {"type": "radiometric_drift"},
        {"type": "downsample", "scale": scale},
        {"type": "sensor_noise"},
        {"type": "fixed_pattern_noise"},
    ]


def _flir_iisr_steps(scale: int) -> list[dict[str, Any]]:
    """The LR formation fitted to FLIR-IISR's real pairs (:mod:`realiisr.data.calibration`, docs/training.md).

    Fitted on the registered sample pairs: a Gaussian PSF of sigma 2.75-3.5 HR px (or a disk of radius
    4.75-6) followed by x4 area averaging leaves 2.0-4.7 grey levels of residual against the real LR, plain
    bicubic down-sampling 5.1-6.1; a real pair kept aside needed sigma ~8. The ranges cover that with room on
    both sides, the PSF width varies over the frame (a tilted focal plane), 10 % of the frames get camera
    shake (152 of the dataset's 1457 pairs are motion-blurred), and the LR is stored at 8 bits. The AGC's
    gain/offset between the two captures is left out on purpose: no model can predict it from the LR, so
    training on it teaches a hedge; the aligned score removes it (``flir_iisr_agc`` adds it, for studies).
    """
    return [
        {"type": "defocus", "kind": "mixed", "sigma": [1.0, 9.0], "spread": 0.35},
        {"type": "motion_blur", "length": [3.0, 13.0], "probability": 0.1},
        {"type": "downsample", "scale": scale},
        {"type": "sensor_noise", "shot": [0.0, 0.004], "read": [0.0005, 0.004]},
        {"type": "fixed_pattern_noise", "column_std": [0.0, 0.002], "row_std": [0.0, 0.001]},
        {"type": "quantize", "bits": 8},
    ]


def _flir_iisr_camera_steps(scale: int) -> list[dict[str, Any]]:
    """``flir_iisr`` with the camera's own LR-side processing measured on the sample pairs
    (:func:`realiisr.data.calibration.camera_statistics`, ``docs/training.md``): the Laplacian energy that
    real LR carries beyond its best blur fit is uncorrelated with the fit (noise-like: 0.95–1.6 grey levels of
    white noise), row/column stripes reach ~0.7 levels, and a low-frequency local offset 0.9–1.5 levels.
    Sharpening (unsharp masking) matched the energy but raised the residual on every pair, so it is left out.
    The noise range is the one whose draws bracket the real Laplacian energy on all four pairs (``flir_iisr``'s
    misses 000009_0; the full measured range overshoots three pairs, the measurement counting the real LR's
    own 8-bit rounding and the stripes twice)."""
    steps = _flir_iisr_steps(scale)
    noise = {"type": "sensor_noise", "shot": [0.0, 0.002], "read": [0.002, 0.0055]}
    stripes = {"type": "fixed_pattern_noise", "column_std": [0.0, 0.003], "row_std": [0.0, 0.003]}
    agc = {"type": "local_agc", "rms": [0.0035, 0.006]}
    return steps[:3] + [agc, noise, stripes] + steps[5:]


def _flir_iisr_agc_steps(scale: int) -> list[dict[str, Any]]:
    """``flir_iisr`` plus the capture-to-capture AGC change fitted on the sample pairs (gain 1.01-1.16 of the
    HR over the LR, offsets up to 36 grey levels), applied to the LR."""
    steps = _flir_iisr_steps(scale)
    agc = {"type": "radiometric_drift", "gain": [1 / 1.16, 1.0], "offset": [-0.14, 0.14], "vignetting": 0.0}
    return steps[:2] + [agc] + steps[2:]


#: Named degradation pipelines: name → steps for a scale.
PRESETS = {"default": _default_steps, "flir_iisr": _flir_iisr_steps, "flir_iisr_agc": _flir_iisr_agc_steps,
           "flir_iisr_camera": _flir_iisr_camera_steps}


def _preset_steps(name: str, scale: int) -> list[dict[str, Any]]:
    if name not in PRESETS:
        raise ValueError(f"unknown degradation preset {name!r}; known: {sorted(PRESETS)}")
    return PRESETS[name](scale)


def preset_pipeline(name: str, scale: int = 4) -> DegradationPipeline:
    """The named preset (``default``, ``flir_iisr``, ``flir_iisr_agc``, ``flir_iisr_camera``) for ``scale``."""
    return DegradationPipeline(_preset_steps(name, scale))


def load_pipeline(spec: str, scale: int = 4) -> DegradationPipeline:
    """The pipeline of :func:`load_steps`."""
    return DegradationPipeline(load_steps(spec, scale))


def load_steps(spec: str, scale: int = 4) -> list[dict[str, Any]]:
    """The steps of a preset name, or of a YAML file of steps (a list of ``{type: name, ...options}``, or ``{steps: [...]}``).

    In a file, a step's ``frames`` option (``real_noise``) may be relative: it is read relative to the file, so a
    run folder's degradation file stays valid wherever the run is moved with its data."""
    path = Path(spec)
    if path.suffix.lower() not in (".yaml", ".yml"):
        return _preset_steps(spec, scale)
    import yaml

    try:
        loaded = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"degradation file {spec!r}: {exc}") from None
    steps = loaded.get("steps") if isinstance(loaded, Mapping) else loaded
    if not isinstance(steps, list) or not all(isinstance(s, Mapping) and "type" in s for s in steps):
        raise ValueError(f"degradation file {spec!r}: expected a list of steps, each a mapping with a 'type'")
    resolved = []
    for step in steps:
        step = dict(step)
        if "frames" in step:
            frames = [step["frames"]] if isinstance(step["frames"], str) else list(step["frames"])
            step["frames"] = [str(f) if Path(f).is_absolute() else str(path.parent / f) for f in frames]
        resolved.append(step)
    if not any(s["type"] == "downsample" and s.get("scale", 4) == scale for s in resolved):
        raise ValueError(f"degradation file {spec!r}: no 'downsample' step of scale {scale}")
    return resolved


def default_pipeline(scale: int = 4) -> DegradationPipeline:
    """The generic preset (``default``): mixed defocus, shake, drift, down-sampling, sensor and pattern noise."""
    return preset_pipeline("default", scale)
