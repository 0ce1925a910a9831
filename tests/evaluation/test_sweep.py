"""The degradation sweep (``realiisr evaluate --sweep``): fixed blurs + camera processing, gain over bicubic."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from realiisr.cli import main
from realiisr.data.degradations import _blur, _gaussian_kernel
from realiisr.data.io import pil_bicubic
from realiisr.evaluation.sweep import SWEEP_BLURS, degrade_at, run_sweep, sweep_frames


def _scene(seed=0, size=128):
    """A thermal-like HR frame: smooth warm blobs and sharp-edged objects on a gradient."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    frame = 0.3 + 0.2 * x
    for _ in range(6):
        cy, cx, r = rng.uniform(0.1, 0.9, 2).tolist() + [rng.uniform(0.05, 0.2)]
        frame += 0.25 * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * r**2))
    frame[size // 4 : size // 2, size // 3 : size // 3 + 12] += 0.3
    return np.clip(frame, 0, 1)


def _write(folder, names, size=128):
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        Image.fromarray((_scene(i, size) * 255).round().astype(np.uint8), mode="L").save(folder / name)
    return folder


def test_degradation_is_the_fixed_blur_plus_one_camera_draw_per_frame():
    hr = torch.from_numpy(_scene()).float()[None]
    narrow, wide = degrade_at(hr, "gaussian", 1.0, 4, seed=3), degrade_at(hr, "gaussian", 7.0, 4, seed=3)
    assert narrow.shape == (1, 32, 32) and torch.equal(narrow, degrade_at(hr, "gaussian", 1.0, 4, seed=3))
    assert torch.equal(narrow, torch.round(narrow * 255) / 255)  # stored at 8 bits
    clean = {s: F.avg_pool2d(_blur(hr, _gaussian_kernel(s))[None], 4)[0] for s in (1.0, 7.0)}
    camera_narrow, camera_wide = narrow - clean[1.0], wide - clean[7.0]
    # the same camera processing at both widths (up to the 8-bit rounding), a different one for another seed
    assert (camera_narrow - camera_wide).abs().max() <= 1.01 / 255
    other = degrade_at(hr, "gaussian", 1.0, 4, seed=4) - clean[1.0]
    assert (other - camera_narrow).abs().max() > 2 / 255
    assert 0.5 / 255 < float(camera_narrow.std()) < 4 / 255  # grey levels of AGC offset, noise and stripes
    # the wide PSF really is wider: it moves the LR much further from the area-averaged sharp frame
    sharp = F.avg_pool2d(hr[None], 4)[0]
    assert float((clean[7.0] - sharp).abs().mean()) > 3 * float((clean[1.0] - sharp).abs().mean())
    with pytest.raises(ValueError, match="sweep PSF 'box'"):
        degrade_at(hr, "box", 3.0, 4, seed=0)


def test_sweep_scores_bicubic_as_zero_gain_and_a_blurring_method_as_a_loss(tmp_path):
    frames, held_out = sweep_frames(_write(tmp_path / "hr", ["a.png", "b.png"]), limit=8)
    assert [p.name for p in frames] == ["a.png", "b.png"] and not held_out

    def bicubic(lr):
        return pil_bicubic(lr, lr.shape[-2] * 4, lr.shape[-1] * 4, eight_bit=True).clamp(0, 1)

    same = run_sweep(bicubic, frames, method="copy", crop=128, blurs=SWEEP_BLURS[:2])
    assert [(r["psf"], r["width"]) for r in same.table()] == [("gaussian", 1.0), ("gaussian", 2.0)]
    for row in same.table():
        assert row["psnr_gain"] == pytest.approx(0, abs=1e-9) and row["ssim_gain"] == pytest.approx(0, abs=1e-9)
    blurry = run_sweep(lambda lr: _blur(bicubic(lr), _gaussian_kernel(3.0)), frames, method="blurry", crop=128,
                       blurs=SWEEP_BLURS[:1])
    row = blurry.table()[0]
    assert row["psnr_gain"] < -0.5, row  # (its SSIM may rise: it also smooths the noise of a smooth scene)
    assert row["psnr"] == pytest.approx(row["psnr_bicubic"] + row["psnr_gain"])
    blurry.write(tmp_path / "out")
    stored = json.loads((tmp_path / "out" / "sweep.json").read_text())
    assert stored["frames"] == ["a.png", "b.png"] and len(stored["rows"]) == 2 * 2  # 2 frames x 2 methods
    assert "| gaussian | 1.0 |" in (tmp_path / "out" / "sweep.md").read_text()


def test_sweep_frames_prefer_the_held_out_range_spread_over_it(tmp_path):
    names = [f"0_100_{a}_0_0000{i}.png" for a in (30, 40, 50) for i in range(3)] + ["0_60_30_0_00001.png"]
    frames, held_out = sweep_frames(_write(tmp_path / "hit", names, size=64), limit=3)
    assert held_out and [p.name for p in frames] == ["0_100_30_0_00000.png", "0_100_40_0_00000.png",
                                                     "0_100_50_0_00000.png"]
    with pytest.raises(ValueError, match="not a folder"):
        sweep_frames(tmp_path / "missing")


def test_cli_sweep_with_the_shipped_model_gains_on_a_moderate_blur(tmp_path, shared_dir):
    """End to end on one held-out HIT-UAV frame (a 128² crop) at Gaussian σ 2: the shipped model beats bicubic."""
    folder = shared_dir / "data" / "thermal-frames" / "hit-uav"
    if not folder.is_dir():
        pytest.skip(f"{folder} is not on this machine")
    out = tmp_path / "sweep"
    main(["evaluate", "--sweep", str(folder), "--sweep-frames", "1", "--sweep-crop", "128", "--out", str(out),
          "--sweep-blurs", "gaussian:2"])
    stored = json.loads((out / "sweep.json").read_text())
    assert stored["held_out"] and stored["frames"][0].startswith("0_100_")
    row = stored["table"][0]
    assert (row["psf"], row["width"]) == ("gaussian", 2.0)
    assert row["psnr_gain"] > 0.5 and row["ssim_gain"] > 0.01, row


def test_blur_lists_parse_and_bad_ones_are_named():
    from realiisr.evaluation.sweep import parse_blurs

    assert parse_blurs("gaussian:2, disk:3.5") == [("gaussian", 2.0), ("disk", 3.5)]
    for bad in ("gaussian", "box:3", "disk:-1"):
        with pytest.raises(ValueError, match=f"sweep blur '{bad}'"):
            parse_blurs(bad)


def test_sweep_camera_can_be_another_degradations_lr_side(tmp_path):
    """``--sweep-camera FILE.yaml``: the LR-side steps of that file (here real noise patches of given LR frames)
    replace flir_iisr_camera's, drawn alike per frame; the report names them."""
    from realiisr.evaluation.sweep import camera_steps_of

    rng = np.random.default_rng(5)
    (tmp_path / "lr").mkdir()
    Image.fromarray((128 + rng.normal(0, 6, (64, 64))).clip(0, 255).astype(np.uint8)).save(tmp_path / "lr" / "n.png")
    spec = tmp_path / "camera.yaml"
    spec.write_text("- {type: defocus, sigma: [1.0, 2.0]}\n- {type: downsample, scale: 4}\n"
                    "- {type: real_noise, frames: lr}\n- {type: quantize, bits: 8}\n")
    assert [s["type"] for s in camera_steps_of(str(spec), 4)] == ["real_noise", "quantize"]
    assert [s["type"] for s in camera_steps_of("flir_iisr_camera", 4)][-1] == "quantize"
    hr = torch.from_numpy(_scene()).float()[None]
    real = degrade_at(hr, "gaussian", 2.0, 4, seed=3, camera=str(spec))
    assert torch.equal(real, degrade_at(hr, "gaussian", 2.0, 4, seed=3, camera=str(spec)))
    clean = F.avg_pool2d(_blur(hr, _gaussian_kernel(2.0))[None], 4)[0]
    added = (real - clean) * 255
    assert 3 < float(added.std()) < 8  # the 6-level noise of the frame, less what its shading Gaussian took
    frames, _ = sweep_frames(_write(tmp_path / "hr", ["a.png"]), limit=8)
    result = run_sweep(lambda lr: pil_bicubic(lr, lr.shape[-2] * 4, lr.shape[-1] * 4), frames, method="same",
                       blurs=[("gaussian", 2.0)], camera=str(spec))
    assert str(spec) in result.markdown()
    result.write(tmp_path / "out")
    assert json.loads((tmp_path / "out" / "sweep.json").read_text())["camera"] == str(spec)
