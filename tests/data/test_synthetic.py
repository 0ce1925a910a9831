"""The synthetic LWIR scene model: physics sanity and determinism."""
from __future__ import annotations

import torch

from realiisr.data.synthetic import band_radiance, thermal_frame, thermal_scene


def test_band_radiance_follows_planck():
    values = band_radiance(torch.tensor([250.0, 300.0, 350.0]))
    assert torch.all(values.diff() > 0)
    # 8–14 µm band radiance of a 300 K blackbody is about 55 W·m⁻²·sr⁻¹ (≈ 37 % of σT⁴/π)
    assert abs(float(values[1]) - 55.0) < 2.0


def test_scene_is_quantised_deterministic_and_hot_spots_are_hot():
    a = thermal_scene(64, 96, generator=torch.Generator().manual_seed(7))
    b = thermal_scene(64, 96, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b) and torch.equal(a, a.round()) and float(a.max()) < 2**14
    frame = thermal_frame(96, 128, generator=torch.Generator().manual_seed(1))
    assert frame.shape == (1, 1, 96, 128) and float(frame.min()) == 0.0 and float(frame.max()) == 1.0
    sky, ground = frame[..., :5, :].mean(), frame[..., -5:, :].mean()
    assert float(sky) < float(ground)  # the sky is colder than the ground
