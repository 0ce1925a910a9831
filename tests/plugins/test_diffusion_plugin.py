"""The in-tree diffusion plugin: found through its entry point, trains with the loop, samples deterministically."""
from __future__ import annotations

import importlib.util

import pytest
import torch

import realiisr
from realiisr.core import GENERATORS
from realiisr.data.datasets import DegradedThermalDataset
from realiisr.data.synthetic import thermal_frame
from realiisr.training.loop import TrainConfig, train

pytest.importorskip("realiisr_diffusion", reason="pip install -e plugins/realiisr-diffusion")


def test_registered_through_the_entry_point():
    entry = GENERATORS.describe("diffusion")
    assert entry.source.startswith("plugin realiisr-diffusion==")


def test_trains_and_samples(tmp_path):
    torch.manual_seed(0)
    model = realiisr.build("real_iisr_x4_tiny", generator={"type": "diffusion", "sampling_steps": 4})
    data = DegradedThermalDataset(lambda i, g: thermal_frame(160, 160, generator=g)[0], length=4, crop=128)
    config = TrainConfig(steps=4, batch_size=2, lr=1e-3, warmup_fraction=0, log_every=1, val_every=4, save_every=4,
                         val_samples=2)
    metrics = train(model, data, config, tmp_path, val_data=data, progress=False)
    assert metrics["val_psnr"] > 0 and "diffusion" in metrics
    if importlib.util.find_spec("pyiqa") is not None:
        assert 0 < metrics["val_ssim"] <= 1
    lr = torch.rand(1, 3, 128, 128) * 2 - 1
    a = model.eval().sample(lr, generator=torch.Generator().manual_seed(1))
    b = model.sample(lr, generator=torch.Generator().manual_seed(1))
    assert a.shape == (1, 3, 128, 128) and torch.equal(a, b) and 0 <= float(a.min()) and float(a.max()) <= 1
