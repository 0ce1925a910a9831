"""Frames per second of ``realiisr upscale CLIP`` as a user runs it: the shipped models, default settings (the
window model with ``--temporal 2`` and its output fusion, bf16 where native), PNG frames and the H.264 container
written, on 160×120 (Lepton-class), 320×256 and 640×512 clips, beside the window without the output fusion and
``--temporal 0`` (each frame alone, the single-frame model, the temporal blend 0.6) in the same process. frames/s
in extra_info."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import realiisr

pytest.importorskip("av", reason="video needs PyAV")
pytest.importorskip("cv2", reason="the window guide needs OpenCV")

_MODELS: dict = {}


def _model(temporal: int):
    from realiisr.video.upscale import window_recipe_for

    name = (window_recipe_for("real_iisr_x4_flir") if temporal else None) or "real_iisr_x4_flir"
    if name not in _MODELS:
        _MODELS[name] = realiisr.build(name, pretrained=True).eval()
    return _MODELS[name]


def _clip(folder, size: tuple[int, int], count: int) -> None:
    """A drifting smooth scene with edges, ``count`` frames of ``size`` (h, w)."""
    h, w = size
    folder.mkdir(parents=True, exist_ok=True)
    for t in range(count):
        y, x = np.meshgrid(np.linspace(0, 1, h), np.linspace(0, 1, w) + 0.004 * t, indexing="ij")
        frame = 0.4 + 0.3 * np.sin(9 * x) * np.cos(7 * y) + 0.2 * (((x - 0.5) ** 2 + (y - 0.4) ** 2) < 0.05)
        Image.fromarray(np.round(np.clip(frame, 0, 1) * 255).astype(np.uint8)).save(folder / f"{t:03d}.png")


@pytest.mark.parametrize("temporal,fuse", [(2, True), (2, False), (0, False)],
                         ids=["temporal2-default", "temporal2-guide-only", "temporal0"])
@pytest.mark.parametrize("size,count", [((120, 160), 6), ((256, 320), 4), ((512, 640), 3)],
                         ids=["160x120", "320x256", "640x512"])
def test_upscale_clip(benchmark, tmp_path, size, count, temporal, fuse):
    from realiisr.video.io import open_clip
    from realiisr.video.upscale import blend_strength, upscale_clip

    _clip(tmp_path / "clip", size, count)
    model = _model(temporal)
    h, w = size
    benchmark.group = f"video|{w}x{h}|{count} frames|cpu"
    impl = f"temporal {temporal}" + ("" if fuse or not temporal else " guide only")
    benchmark.extra_info.update({"impl": impl, "frames": count, "threads": torch.get_num_threads()})

    def run():
        return upscale_clip(model, open_clip(tmp_path / "clip"), tmp_path / "out", progress=False,
                            stabilise=blend_strength(None, temporal), temporal=temporal, fuse_outputs=fuse)

    result = benchmark.pedantic(run, rounds=1, warmup_rounds=0, iterations=1)
    assert result.frames == count
    benchmark.extra_info["frames_per_s"] = count / benchmark.stats.stats.median
