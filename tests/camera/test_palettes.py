"""Pseudo-colour frames: the scalar behind every built-in palette comes back, the palette is recognised, a
palette-coloured real frame upscales to the same palette and the same scalar as the grey frame, overlays stay."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

import realiisr
from realiisr.camera.palettes import PALETTE_NAMES, get_palette, palette_from_image
from realiisr.camera.pseudocolour import decode_colour_frame, detect_palette, recolour
from realiisr.cli import main

COLOUR_PALETTES = ("ironbow", "jet", "lava", "arctic", "inferno", "magma", "plasma", "viridis", "turbo")


def _scene(h=96, w=128) -> np.ndarray:
    """An 8-bit frame over the whole range: a warm blob, a ramp and fine stripes."""
    y, x = np.mgrid[0:h, 0:w] / np.array([h, w])[:, None, None]
    frame = 0.55 * x + 0.35 * np.exp(-((x - 0.6) ** 2 + (y - 0.4) ** 2) / 0.02) + 0.1 * (np.sin(40 * y) > 0)
    return np.round(255 * (frame - frame.min()) / np.ptp(frame)).astype(np.uint8)


@pytest.fixture(scope="module")
def real_lr(samples_dir) -> np.ndarray:
    return np.asarray(Image.open(samples_dir / "pairs" / "LR" / "000009_0.png").convert("L"))


@pytest.mark.parametrize("name", COLOUR_PALETTES)
def test_each_palette_is_recognised_and_gives_its_scalar_back(name):
    grey = _scene()
    rgb = get_palette(name).colour(grey / 255.0)
    found, shares = detect_palette(rgb)
    assert found is not None and found.name == name, shares
    decoded = decode_colour_frame(rgb)
    assert not decoded.off_palette.any()
    assert np.abs(decoded.values * 255 - grey).mean() < 0.35  # the 8-bit colours' own rounding


def test_names_and_aliases():
    assert {"rainbow", "ironbow", "white-hot", "black-hot", "inferno", "turbo"} <= set(PALETTE_NAMES)
    np.testing.assert_array_equal(get_palette("rainbow").table, get_palette("jet").table)
    with pytest.raises(ValueError, match="unknown palette 'sepia'.*built in"):
        get_palette("sepia")


def test_a_jpeg_of_a_palette_frame_still_decodes(real_lr):
    buffer = io.BytesIO()
    Image.fromarray(get_palette("inferno").colour(real_lr / 255.0)).save(buffer, "JPEG", quality=92)
    rgb = np.asarray(Image.open(buffer))
    decoded = decode_colour_frame(rgb)
    assert decoded.palette.name == "inferno" and decoded.off_fraction < 0.01
    assert np.abs(decoded.values * 255 - real_lr).mean() < 3.0  # chroma subsampling moves colours


def test_a_colour_frame_of_no_palette_is_refused_and_luminance_only_when_asked():
    rgb = (np.random.default_rng(0).random((40, 40, 3)) * 255).astype(np.uint8)
    with pytest.raises(ValueError, match="holiday.png: a colour frame that fits no built-in palette.*--palette none"):
        decode_colour_frame(rgb, what="holiday.png")
    with pytest.raises(ValueError, match="off the inferno palette"):
        decode_colour_frame(rgb, "inferno")
    model = realiisr.build("real_iisr_x4_tiny").eval()
    out = model.upscale(rgb, palette="none", batch_size=8)
    assert out.shape == (160, 160) and out.dtype == np.uint8  # the luminance path: grey


def test_overlays_are_kept_and_do_not_become_temperatures():
    grey = _scene()
    rgb = get_palette("ironbow").colour(grey / 255.0)
    rgb[40:43, 20:100] = (0, 255, 0)  # a green crosshair bar: on no part of the ironbow curve
    decoded = decode_colour_frame(rgb)
    assert decoded.palette.name == "ironbow"
    assert decoded.off_palette[40:43, 20:100].all() and decoded.off_palette.sum() == 3 * 80
    # its scalar is its surroundings' (filled in), not the palette position of green
    assert np.abs(decoded.values[41, 20:100] * 255 - grey[41, 20:100].astype(float)).mean() < 12
    up = torch.from_numpy(np.kron(decoded.values, np.ones((4, 4))))
    out = recolour(up.numpy(), decoded)
    assert (out[160:172, 80:400] == (0, 255, 0)).all()  # the overlay, enlarged, in its own colour
    assert not (out[150:160, 80:400] == (0, 255, 0)).all(axis=-1).any()


def test_palette_from_a_colour_bar_image(tmp_path):
    inferno = get_palette("inferno")
    bar = inferno.colour(np.linspace(0, 1, 256))
    Image.fromarray(bar[None].repeat(8, axis=0)).save(tmp_path / "bar.png")  # horizontal, cold on the left
    Image.fromarray(bar[::-1, None].repeat(8, axis=1)).save(tmp_path / "column.png")  # vertical, hot on top
    grey = _scene()
    rgb = inferno.colour(grey / 255.0)
    for file in ("bar.png", "column.png"):
        decoded = decode_colour_frame(rgb, palette_from_image(tmp_path / file))
        assert np.abs(decoded.values * 255 - grey).mean() < 0.5
    Image.fromarray(bar[:8][None]).save(tmp_path / "stub.png")
    with pytest.raises(ValueError, match="stub.png: a colour bar needs at least 16 entries"):
        palette_from_image(tmp_path / "stub.png")


@pytest.mark.parametrize("name", ["inferno", "jet", "ironbow"])
def test_a_palette_real_frame_upscales_in_its_palette_like_the_grey_frame(real_lr, name):
    """The bar: the output is colour in the same palette and its scalar is within 2 grey levels (mean
    absolute) of upscaling the grey frame itself (shipped model, default settings; a 48² crop)."""
    model = _shipped()
    crop = real_lr[30:78, 40:88]
    from_grey = np.asarray(model.upscale(Image.fromarray(crop))).astype(np.float64)
    out = model.upscale(Image.fromarray(get_palette(name).colour(crop / 255.0)))
    assert out.mode == "RGB" and out.size == (192, 192)
    back = decode_colour_frame(np.asarray(out), name)
    assert back.off_fraction == 0.0
    assert np.abs(back.values * 255 - from_grey).mean() < 2.0


def test_cli_palette_options(tmp_path, capsys):
    rgb = get_palette("turbo").colour(_scene(24, 32) / 255.0)
    (tmp_path / "in").mkdir()
    Image.fromarray(rgb).save(tmp_path / "in" / "turbo.png")
    weights = tmp_path / "tiny.safetensors"
    from safetensors.torch import save_file

    torch.manual_seed(0)
    save_file({k: v.contiguous() for k, v in realiisr.build("real_iisr_x4_tiny").state_dict().items()}, str(weights))
    common = ["--recipe", "real_iisr_x4_tiny", "--weights", str(weights), "--batch-size", "8"]
    assert main(["upscale", str(tmp_path / "in"), "-o", str(tmp_path / "out"), *common]) == 0
    out = Image.open(tmp_path / "out" / "turbo.png")
    assert out.mode == "RGB" and out.size == (128, 96)
    assert detect_palette(np.asarray(out))[0].name == "turbo"
    assert main(["upscale", str(tmp_path / "in"), "-o", str(tmp_path / "grey"), "--palette", "none", *common]) == 0
    assert Image.open(tmp_path / "grey" / "turbo.png").mode == "L"
    assert main(["upscale", str(tmp_path / "in"), "-o", str(tmp_path / "x"), "--palette", "sepia", *common]) == 2
    assert "--palette: unknown palette 'sepia'" in capsys.readouterr().err


_MODEL: dict = {}


def _shipped():
    if "model" not in _MODEL:
        _MODEL["model"] = realiisr.build("real_iisr_x4_flir", pretrained=True).eval()
    return _MODEL["model"]
