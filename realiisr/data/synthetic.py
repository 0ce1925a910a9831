"""Procedural LWIR scenes from a small physical model, for training data, demos and tests.

A frame is built in temperature and emissivity: a sky whose effective temperature falls with elevation,
ground warming towards the camera, buildings and vehicles (emissivity 0.85–0.98) with hot engines and
people whose glow spreads past their edges. Radiance is Planck's law integrated over the 8–14 µm band;
objects also reflect ``(1-ε)`` of the sky; the atmosphere attenuates with distance (more towards the
horizon) and adds its own path radiance. The sensor maps radiance linearly to counts, adds NETD noise
(given in kelvin at 300 K) and column fixed-pattern noise, and quantises to 14 bits; the frame is returned
normalised to [0, 1] by its own range, like an AGC'd camera output.
"""
from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["band_radiance", "thermal_scene", "thermal_frame"]

_H, _C, _K = 6.62607015e-34, 2.99792458e8, 1.380649e-23


def band_radiance(kelvin: Tensor, low_um: float = 8.0, high_um: float = 14.0, samples: int = 32) -> Tensor:
    """Planck radiance integrated over [low, high] µm (W·m⁻²·sr⁻¹), elementwise, trapezoid rule."""
    lam = torch.linspace(low_um, high_um, samples, dtype=torch.float64) * 1e-6
    t = kelvin.double().unsqueeze(-1)
    spectral = 2 * _H * _C**2 / lam**5 / torch.expm1(_H * _C / (lam * _K * t))
    return torch.trapezoid(spectral, lam, dim=-1).to(kelvin.dtype)


@functools.lru_cache(maxsize=1)
def _radiance_table() -> tuple[float, float, Tensor]:
    lo, hi = 180.0, 520.0
    temps = torch.linspace(lo, hi, 6801, dtype=torch.float64)  # 0.05 K steps
    return lo, (hi - lo) / 6800, band_radiance(temps)


def _radiance(kelvin: Tensor) -> Tensor:
    """Band radiance by linear interpolation in a 0.05 K table (the integral per pixel is 30× slower)."""
    lo, step, table = _radiance_table()
    pos = ((kelvin.double() - lo) / step).clamp(0, len(table) - 1.001)
    i = pos.floor().long()
    frac = pos - i
    return (table[i] * (1 - frac) + table[i + 1] * frac).float()


def _blob(y: Tensor, x: Tensor, cy: float, cx: float, ry: float, rx: float) -> Tensor:
    return torch.exp(-(((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2))


def thermal_scene(height: int, width: int, *, generator: torch.Generator, bits: int = 14,
                  netd_k: float = 0.05) -> Tensor:
    """Raw sensor counts ``[1, 1, H, W]`` (integers below ``2**bits``, as float32)."""
    def u(lo: float, hi: float) -> float:
        return lo + (hi - lo) * float(torch.rand((), generator=generator))

    y = torch.linspace(0, 1, height)[:, None].expand(height, width)
    x = torch.linspace(0, 1, width)[None, :].expand(height, width)
    horizon = u(0.25, 0.55)
    ambient = u(268.0, 303.0)  # kelvin
    sky = ambient - u(25, 45) * (1 - y / horizon).clamp(0, 1) ** 0.5 - 8
    ground = ambient + u(-3, 6) * ((y - horizon) / (1 - horizon)).clamp(0, 1)
    texture = F.interpolate(torch.randn(1, 1, 12, 16, generator=generator), size=(height, width), mode="bicubic",
                            align_corners=False)[0, 0]
    temperature = torch.where(y < horizon, sky, ground + u(0.5, 3.0) * texture)  # soil, grass, shadows
    emissivity = torch.where(y < horizon, torch.ones_like(y), torch.full_like(y, 0.95))
    distance = torch.where(y < horizon, torch.full_like(y, 5.0), 0.05 + 1.5 * (1 - (y - horizon) / (1 - horizon)) ** 3)
    for _ in range(int(u(2, 7))):  # buildings and walls: rectangles standing on the horizon line
        x0, w = u(0, 0.9), u(0.05, 0.3)
        top = horizon - u(0.05, 0.35)
        bottom = horizon + u(0.0, 0.15)
        mask = (x >= x0) & (x < x0 + w) & (y >= top) & (y < bottom)
        temperature = torch.where(mask, ambient + u(-4, 8) + 2 * (y - top), temperature)
        emissivity = torch.where(mask, torch.full_like(y, u(0.85, 0.95)), emissivity)
        distance = torch.where(mask, torch.full_like(y, u(0.2, 1.0)), distance)
    glow = torch.zeros_like(y)
    for _ in range(int(u(1, 5))):  # vehicles (hot engine and exhaust) and people
        cy, cx = u(horizon + 0.05, 0.95), u(0.05, 0.95)
        size = 0.04 + 0.12 * (cy - horizon)
        if float(torch.rand((), generator=generator)) < 0.5:
            body = (abs(x - cx) < size * 1.5) & (abs(y - cy) < size * 0.6)
            temperature = torch.where(body, ambient + u(2, 10), temperature)
            emissivity = torch.where(body, torch.full_like(y, 0.9), emissivity)
            glow = glow + u(30, 70) * _blob(y, x, cy + size * 0.2, cx + size * u(-1.2, 1.2), size * 0.25, size * 0.35)
        else:
            person = _blob(y, x, cy, cx, size * 1.2, size * 0.35) > 0.5
            temperature = torch.where(person, torch.full_like(y, u(303, 309)), temperature)
            emissivity = torch.where(person, torch.full_like(y, 0.98), emissivity)
    temperature = temperature + glow  # hot spots spread past their edges (conduction and scatter)
    sky_radiance = band_radiance(torch.tensor(ambient - 30.0))
    radiance = emissivity * _radiance(temperature) + (1 - emissivity) * sky_radiance
    transmission = torch.exp(-u(0.05, 0.4) * distance)
    radiance = transmission * radiance + (1 - transmission) * band_radiance(torch.tensor(ambient))
    radiance = radiance[None, None]
    radiance = F.avg_pool2d(F.pad(radiance, (1, 1, 1, 1), mode="replicate"), 3, 1)  # optics' PSF
    gain_per_kelvin = float(band_radiance(torch.tensor(300.5)) - band_radiance(torch.tensor(299.5)))
    noise = netd_k * gain_per_kelvin * torch.randn(radiance.shape, generator=generator)
    fpn = 0.5 * netd_k * gain_per_kelvin * torch.randn(1, 1, 1, width, generator=generator)
    signal = radiance + noise + fpn
    low, high = band_radiance(torch.tensor(230.0)), band_radiance(torch.tensor(400.0))
    counts = ((signal - low) / (high - low)).clamp(0, 1) * (2**bits - 1)
    return counts.round().float()


def thermal_frame(height: int, width: int, *, generator: torch.Generator) -> Tensor:
    """A scene as a display frame ``[1, 1, H, W]`` in [0, 1]: the counts stretched between their 0.5th and
    99.9th percentiles, as a camera's automatic gain control does (hot spots may saturate)."""
    counts = thermal_scene(height, width, generator=generator)
    low, high = torch.quantile(counts.flatten()[:: max(1, counts.numel() // 65536)], torch.tensor([0.005, 0.999]))
    return ((counts - low) / (high - low).clamp_min(1.0)).clamp(0, 1)
