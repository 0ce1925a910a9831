"""Thermal video: clips in (containers, sequences, multi-page TIFF) and out at the same frame count and rate,
kept frames, resume after a crash, named errors, and the flicker measure."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

import realiisr
from realiisr.cli import main

av = pytest.importorskip("av", reason="video needs PyAV (requirements/dev.txt installs it)")

from realiisr.video.flicker import flicker, flicker_ratio  # noqa: E402
from realiisr.video.io import ClipWriter, is_clip, open_clip  # noqa: E402
from realiisr.video.upscale import upscale_clip  # noqa: E402


def _moving_frames(count: int, h: int = 24, w: int = 32, sixteen: bool = False) -> list[np.ndarray]:
    """A warm blob drifting across a gradient: a clip with motion and structure."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    frames = []
    for t in range(count):
        blob = np.exp(-((xx - 8 - 2 * t) ** 2 + (yy - h / 2) ** 2) / 18.0)
        values = 0.25 + 0.3 * xx / w + 0.4 * blob
        frames.append((values * 8000 + 20000).astype(np.uint16) if sixteen else np.round(values * 255).astype(np.uint8))
    return frames


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    torch.manual_seed(0)
    model = realiisr.build("real_iisr_x4_tiny").eval()
    path = tmp_path_factory.mktemp("weights") / "tiny.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return model, path


def _cli(path, out, weights, *extra):
    return main(["upscale", str(path), "-o", str(out), "--recipe", "real_iisr_x4_tiny", "--weights", str(weights),
                 "--batch-size", "8", "--overlap", "2", *extra])


def test_mp4_in_gives_a_clip_four_times_the_size_at_the_same_rate(tiny_weights, tmp_path):
    _, weights = tiny_weights
    source = tmp_path / "clip.mp4"
    with ClipWriter(source, Fraction(12)) as writer:
        for frame in _moving_frames(5):
            writer.write(frame)
    assert is_clip(source) and open_clip(source).count == 5
    assert _cli(source, tmp_path / "out", weights, "--frames") == 0
    result = open_clip(tmp_path / "out" / "clip.mp4")
    frames = list(result.frames())
    assert result.fps == 12 and len(frames) == 5 and frames[0].shape == (96, 128)
    with av.open(str(tmp_path / "out" / "clip.mp4")) as container:
        assert container.streams.video[0].codec_context.name == "h264"
    pngs = sorted((tmp_path / "out" / "clip").glob("*.png"))
    assert [p.name for p in pngs] == [f"{i:06d}.png" for i in range(5)]
    decoded = np.stack(frames).astype(float)
    kept = np.stack([np.asarray(Image.open(p)) for p in pngs]).astype(float)
    assert np.abs(decoded - kept).mean() < 1.5  # CRF 10: visually lossless against the frames it encoded


def test_sixteen_bit_sequence_keeps_depth_one_mapping_and_block_means(tiny_weights, tmp_path):
    _, weights = tiny_weights
    folder = tmp_path / "seq"
    folder.mkdir()
    lr = _moving_frames(3, sixteen=True)
    for i, frame in enumerate(lr):
        Image.fromarray(frame).save(folder / f"f{i:03d}.png")
    assert _cli(folder, tmp_path / "out", weights, "--sequence", "--fps", "9", "--frames") == 0
    video = open_clip(tmp_path / "out" / "seq.mkv")  # 16-bit: FFV1 gray16le in Matroska
    frames = list(video.frames())
    assert video.fps == 9 and len(frames) == 3 and frames[0].dtype == np.uint16 and frames[0].shape == (96, 128)
    pngs = sorted((tmp_path / "out" / "seq").glob("*.png"))
    for frame, png, source in zip(frames, pngs, lr):
        np.testing.assert_array_equal(frame, np.asarray(Image.open(png)))  # lossless
        blocks = frame.astype(float).reshape(24, 4, 32, 4).mean(axis=(1, 3))
        assert np.abs(blocks - source).max() <= 0.5  # radiometric: each frame's block means are its counts


def test_multipage_tiff_and_lossless(tiny_weights, tmp_path):
    _, weights = tiny_weights
    frames = [Image.fromarray(f) for f in _moving_frames(3)]
    frames[0].save(tmp_path / "stack.tif", save_all=True, append_images=frames[1:])
    assert is_clip(tmp_path / "stack.tif")
    assert _cli(tmp_path / "stack.tif", tmp_path / "out", weights, "--lossless", "--fps", "5") == 0
    video = open_clip(tmp_path / "out" / "stack.mkv")
    assert video.fps == 5 and len(list(video.frames())) == 3
    assert not (tmp_path / "out" / "stack").exists()  # frames not kept without --frames


def _five_frame_clip(folder):
    folder.mkdir()
    for i, frame in enumerate(_moving_frames(5)):
        Image.fromarray(frame).save(folder / f"{i}.png")
    return open_clip(folder)


def _interrupt_model_call(monkeypatch, call: int):
    """Ctrl-C while the model runs for the ``call``-th time (from 1); returns the real function."""
    import realiisr.inference.images as images

    real, calls = images.upscale_image, []

    def interrupted(model, frame, **kw):
        calls.append(kw["what"])
        if len(calls) == call:
            raise KeyboardInterrupt
        return real(model, frame, **kw)

    monkeypatch.setattr(images, "upscale_image", interrupted)
    return real


def test_resume_after_a_crash_computes_only_the_missing_frames(tiny_weights, tmp_path, monkeypatch):
    model, _ = tiny_weights
    clip = _five_frame_clip(tmp_path / "seq")
    import realiisr.inference.images as images

    real = _interrupt_model_call(monkeypatch, 4)  # during frame 3
    with pytest.raises(KeyboardInterrupt):
        upscale_clip(model, clip, tmp_path / "out", progress=False, overlap=2, stabilise=0.6)
    done = sorted((tmp_path / "out" / "seq").iterdir())
    assert [p.name for p in done] == ["000000.png", "000001.png", "000002.png"]  # finished frames, no partial
    stamps = [p.stat().st_mtime_ns for p in done]
    monkeypatch.setattr(images, "upscale_image", real)
    result = upscale_clip(model, clip, tmp_path / "out", progress=False, resume=True, keep_frames=True, overlap=2,
                          stabilise=0.6)
    assert result.frames == 5 and result.upscaled == 2
    assert [p.stat().st_mtime_ns for p in done] == stamps  # the finished frames were not redone
    assert len(list(open_clip(result.video).frames())) == 5
    # the resumed run continues the temporal blend from the last kept frame: as if never interrupted
    whole = upscale_clip(model, clip, tmp_path / "whole", progress=False, keep_frames=True, overlap=2, stabilise=0.6)
    for name in ("000003.png", "000004.png"):
        np.testing.assert_array_equal(np.asarray(Image.open(result.frames_dir / name)),
                                      np.asarray(Image.open(whole.frames_dir / name)))


def test_bad_clips_get_named_errors_and_keep_finished_frames(tiny_weights, tmp_path, capsys):
    model, weights = tiny_weights
    folder = tmp_path / "mixed"
    folder.mkdir()
    frames = _moving_frames(3)
    Image.fromarray(frames[0]).save(folder / "0.png")
    Image.fromarray(frames[1]).save(folder / "1.png")
    Image.fromarray(np.zeros((30, 30), np.uint8)).save(folder / "2.png")
    for temporal in (0, 2):  # with a window, the frames before the bad one are fused over what exists, then kept
        with pytest.raises(ValueError, match=r"frame 2 is 30x30, the clip's earlier frames 32x24.*2 finished frames"):
            upscale_clip(model, open_clip(folder), tmp_path / f"out{temporal}", progress=False, overlap=2,
                         temporal=temporal)
        assert len(list((tmp_path / f"out{temporal}" / "mixed").glob("*.png"))) == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="empty: the sequence has no frames"):
        open_clip(empty)
    (tmp_path / "truncated.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 40)
    assert _cli(tmp_path / "truncated.mp4", tmp_path / "o2", weights) == 1
    assert "truncated.mp4" in capsys.readouterr().err


def test_colour_clip_keeps_its_palette(tiny_weights, tmp_path):
    from realiisr.camera.palettes import get_palette

    _, weights = tiny_weights
    table = get_palette("inferno").table
    folder = tmp_path / "inferno"
    folder.mkdir()
    for i, frame in enumerate(_moving_frames(2)):
        rgb = np.round(table[np.round(frame / 255 * (len(table) - 1)).astype(int)]).astype(np.uint8)
        Image.fromarray(rgb).save(folder / f"{i}.png")
    assert _cli(folder, tmp_path / "out", weights, "--sequence", "--frames", "--lossless") == 0
    out = np.asarray(Image.open(tmp_path / "out" / "inferno" / "000001.png"))
    assert out.shape == (96, 128, 3)
    from realiisr.camera.pseudocolour import detect_palette

    assert detect_palette(out)[0].name == "inferno"


def test_flicker_measures_frame_to_frame_change_beyond_motion():
    yy, xx = np.mgrid[0:96, 0:128].astype(np.float64)
    clean = [200 * np.exp(-((xx - 30 - 3 * t) ** 2 + (yy - 48) ** 2) / 200.0) + 0.3 * xx for t in range(6)]
    assert flicker(clean, clean) < 1.0  # motion alone is compensated by the flow
    still = np.abs(np.diff(np.stack(clean), axis=0)).mean()
    assert still > 2.0  # ... where the plain frame difference is several times that
    rng = np.random.default_rng(0)
    shimmer = [f + rng.normal(0, 6, f.shape) for f in clean]
    value, base, ratio = flicker_ratio(shimmer, clean)
    assert value > 3.0 and ratio > 3.0
    frozen = [clean[0]] * 6
    assert flicker(frozen, frozen) == 0.0
    with pytest.raises(ValueError, match="same length"):
        flicker(clean, clean[:3])


def test_stabiliser_averages_a_still_scene_and_leaves_what_moves_alone():
    from realiisr.video.stabilise import TemporalStabiliser

    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:96, 0:128].astype(np.float64)
    scene = 80 + 60 * np.exp(-((xx - 64) ** 2 + (yy - 48) ** 2) / 400.0)
    stabiliser = TemporalStabiliser(0.6)
    noisy = [scene + rng.normal(0, 3, scene.shape) for _ in range(12)]
    out = [stabiliser(frame, scene) for frame in noisy]
    alone = np.abs(noisy[-1] - scene)[8:-8, 8:-8].mean()
    assert np.abs(out[-1] - scene)[8:-8, 8:-8].mean() < 0.7 * alone  # independent looks averaged
    # a warm square appears where the previous frames had none: there the frame is kept, not blended (no ghost)
    moved = scene.copy()
    moved[40:56, 20:36] += 80
    result = stabiliser(moved, moved)
    np.testing.assert_allclose(result[44:52, 24:32], moved[44:52, 24:32], atol=1.0)
    # a scene cut restarts the recursion; strength 0 is the identity
    cut = 255 - scene
    np.testing.assert_array_equal(stabiliser(cut, cut), cut)
    identity = TemporalStabiliser(0.0)
    for frame in noisy[:3]:
        np.testing.assert_array_equal(identity(frame, scene), frame)
    with pytest.raises(ValueError, match="strength must lie in"):
        TemporalStabiliser(1.0)


def test_clip_scores_on_a_synthetic_clip():
    from realiisr.video.evaluate import score_clip, synthetic_clip

    yy, xx = np.mgrid[0:96, 0:128].astype(np.float32)
    hr = torch.from_numpy(0.3 + 0.4 * ((np.sin(xx / 5) * np.cos(yy / 7)) > 0) * 0.5 + 0.002 * xx)[None]
    lr, truth = synthetic_clip(hr, 6, size=(48, 64), seed=3)
    assert len(lr) == 6 and lr[0].shape == (1, 12, 16) and truth[0].shape == (1, 48, 64)
    assert not torch.equal(truth[0], truth[1])  # the camera moves
    nearest = lambda f: f.repeat_interleave(4, -2).repeat_interleave(4, -1)
    scores = score_clip(nearest, lr, truth, method="nearest", stabilise=0.6)
    assert set(scores.flicker) == {"bicubic", "nearest", "nearest frame by frame", "hr"}
    assert scores.psnr["bicubic"] > scores.psnr["nearest frame by frame"]  # blocks lose to bicubic
    assert scores.flicker["nearest"] < scores.flicker["nearest frame by frame"]  # the blend steadies the clip
    assert "| nearest |" in scores.markdown("nearest")


def test_palette_clip_is_stabilised_on_its_scalar(tmp_path):
    from realiisr.camera.palettes import get_palette
    from realiisr.camera.pseudocolour import decode_colour_frame

    model = realiisr.build("real_iisr_x4_flir", pretrained=True).eval()  # trained: its output follows the frame
    table = get_palette("ironbow").table
    rng = np.random.default_rng(0)
    still = _moving_frames(1)[0].astype(np.float64)
    for name in ("ironbow", "grey"):
        (tmp_path / name).mkdir()
    for i in range(4):  # a still scene with fresh sensor noise in every frame: all change is flicker
        grey = np.clip(np.round(still + rng.normal(0, 4, still.shape)), 0, 255).astype(np.uint8)
        Image.fromarray(grey).save(tmp_path / "grey" / f"{i}.png")
        index = np.round(grey / 255 * (len(table) - 1)).astype(int)
        Image.fromarray(np.round(table[index]).astype(np.uint8)).save(tmp_path / "ironbow" / f"{i}.png")

    def frames(name, stabilise):
        out = tmp_path / f"out-{name}-{stabilise}"
        upscale_clip(model, open_clip(tmp_path / name, fps=9), out, progress=False, keep_frames=True, overlap=2,
                     stabilise=stabilise)
        found = [np.asarray(Image.open(p)) for p in sorted((out / name).glob("*.png"))]
        return [decode_colour_frame(f, "ironbow").values * 255 if f.ndim == 3 else f.astype(np.float64) for f in found]

    plain, blended, grey = frames("ironbow", 0.0), frames("ironbow", 0.6), frames("grey", 0.6)
    assert blended[0].shape == (96, 128) and len(blended) == 4
    for colour, reference in zip(blended, grey):  # the palette clip's scalar is blended as a grey clip is
        difference = np.abs(colour - reference)  # the palette's 1,024 steps: a quarter grey level apart
        assert difference.mean() < 0.3 and difference.max() <= 2
    change = lambda clip: np.mean([np.abs(b - a).mean() for a, b in zip(clip, clip[1:])])  # noqa: E731
    assert change(blended) < 0.9 * change(plain)


def test_output_fusion_averages_a_still_scene_keeps_what_moves_and_each_kind_of_frame():
    """``fuse_outputs``: outputs of a still scene carrying their own noise come back closer to the scene; a warm
    square only the centre frame shows (in its LR too) is kept, not averaged away; a 16-bit radiometric window
    keeps its block means; a pseudo-colour window keeps its shape and type."""
    from realiisr.video.stabilise import fuse_outputs

    rng = np.random.default_rng(2)
    yy, xx = np.mgrid[0:96, 0:128].astype(np.float64)
    scene = 80 + 60 * np.exp(-((xx - 64) ** 2 + (yy - 48) ** 2) / 400.0)
    small = scene.reshape(24, 4, 32, 4).mean(axis=(1, 3))
    lows = [np.round(small).astype(np.uint8)] * 5
    outputs = [np.clip(np.round(scene + rng.normal(0, 4, scene.shape)), 0, 255).astype(np.uint8) for _ in range(5)]
    fused = fuse_outputs(outputs, lows, 2)
    assert fused.dtype == np.uint8 and fused.shape == scene.shape
    error = lambda frame: np.abs(frame.astype(np.float64) - scene)[8:-8, 8:-8].mean()  # noqa: E731
    assert error(fused) < 0.55 * error(outputs[2])  # five independent looks: ~1/√5 of the noise
    square = outputs[2].astype(np.float64)
    square[40:60, 20:40] += 80
    centre_low = lows[2].astype(np.float64)
    centre_low[10:15, 5:10] += 80
    kept = fuse_outputs([*outputs[:2], square.astype(np.uint8), *outputs[3:]],
                        [*lows[:2], centre_low.astype(np.uint8), *lows[3:]], 2)
    np.testing.assert_allclose(kept[44:56, 24:36], square[44:56, 24:36], atol=2.0)  # no ghost of the empty frames
    assert fuse_outputs(outputs[:1], lows[:1], 0) is outputs[0]
    # a radiometric 16-bit window: block means equal each LR pixel after the fusion, as a single frame's do
    counts = [(o.astype(np.float64) * 40 + 20000).astype(np.uint16) for o in outputs]
    low16 = np.round(small * 40 + 20000).astype(np.uint16)
    fused16 = fuse_outputs(counts, [low16] * 5, 2, value_range=(20000.0, 30200.0), radiometric=True)
    assert fused16.dtype == np.uint16
    np.testing.assert_allclose(fused16.astype(np.float64).reshape(24, 4, 32, 4).mean(axis=(1, 3)), low16, atol=0.5)
    colour = [np.stack([o, o // 2, 255 - o], axis=-1) for o in outputs]
    fused_colour = fuse_outputs(colour, [np.stack([f] * 3, axis=-1) for f in lows], 2)
    assert fused_colour.shape == (96, 128, 3) and fused_colour.dtype == np.uint8
    np.testing.assert_array_equal(fused_colour[..., 0], fused)  # each channel along the same motion
    with pytest.raises(ValueError, match="output fusion: 2 outputs, 3 frames"):
        fuse_outputs(outputs[:2], lows[:3], 0)


def test_a_fused_clip_resumed_after_a_crash_reuses_the_model_outputs_it_kept(tiny_weights, tmp_path, monkeypatch):
    """With ``temporal`` 2 a frame is written once the model has run on the frames two ahead of it; a crash while
    the model runs on frame 3 leaves frame 0 written and the model's outputs of frames 0–2 kept, and the rerun
    runs the model on frames 3 and 4 only and writes what an uninterrupted run writes."""
    model, _ = tiny_weights
    clip = _five_frame_clip(tmp_path / "seq")
    import realiisr.inference.images as images

    real = _interrupt_model_call(monkeypatch, 4)  # during frame 3
    with pytest.raises(KeyboardInterrupt):
        upscale_clip(model, clip, tmp_path / "out", progress=False, overlap=2, temporal=2)
    assert [p.name for p in sorted((tmp_path / "out" / "seq").glob("*.png"))] == ["000000.png"]
    monkeypatch.setattr(images, "upscale_image", real)
    result = upscale_clip(model, clip, tmp_path / "out", progress=False, resume=True, keep_frames=True, overlap=2,
                          temporal=2)
    assert (result.frames, result.upscaled, result.model_runs) == (5, 4, 2)
    assert not (result.frames_dir / "model").exists()  # the model's outputs go once the clip is written
    whole = upscale_clip(model, clip, tmp_path / "whole", progress=False, keep_frames=True, overlap=2, temporal=2)
    assert whole.model_runs == 5
    for i in range(5):
        np.testing.assert_array_equal(np.asarray(Image.open(result.frames_dir / f"{i:06d}.png")),
                                      np.asarray(Image.open(whole.frames_dir / f"{i:06d}.png")))
    alone = upscale_clip(model, clip, tmp_path / "alone", progress=False, keep_frames=True, overlap=2, temporal=2,
                         fuse_outputs=False)
    assert not np.array_equal(np.asarray(Image.open(alone.frames_dir / "000002.png")),
                              np.asarray(Image.open(whole.frames_dir / "000002.png")))
    from realiisr.video.upscale import blend_strength

    # the command's default blend: for frames alone, not on top of a window's fusion; a strength given is kept
    assert (blend_strength(None, 0), blend_strength(None, 2), blend_strength(0.3, 2)) == (0.6, 0.0, 0.3)
