"""Tiled upscaling: any frame size, no seams, bit depth kept, bad files reported while the rest continue."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

import realiisr
from realiisr.cli import main
from realiisr.inference import Upscaler
from realiisr.inference.upscale import preferred_dtype, tile_starts


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return realiisr.build("real_iisr_x4_tiny").eval()


def test_tile_starts_cover_the_frame():
    assert tile_starts(32, 32, 8) == [0]
    starts = tile_starts(192, 32, 8)
    assert starts[0] == 0 and starts[-1] == 160 and all(b - a <= 24 for a, b in zip(starts, starts[1:]))


def test_identity_model_leaves_no_seams(tiny, monkeypatch):
    """With the sampler replaced by the identity on its input, the tiled output must equal one bicubic
    upsample of the whole frame away from the tile borders' influence: blending introduces no seams."""
    monkeypatch.setattr(type(tiny), "sample", lambda self, lr, **kw: (lr + 1) / 2)
    gen = torch.Generator().manual_seed(0)
    frame = torch.nn.functional.interpolate(torch.rand(1, 1, 12, 16, generator=gen), size=(48, 64), mode="bilinear")[0]
    out = Upscaler(tiny, overlap=8, color_fix="none")(frame)
    assert out.shape == (1, 192, 256)
    rows = out[0].diff(dim=0).abs()
    cols = out[0].diff(dim=1).abs()
    assert float(rows.max()) < 0.1 and float(cols.max()) < 0.1  # smooth input stays smooth: no seam steps


def test_any_size_and_small_frames(tiny):
    up = Upscaler(tiny)
    assert up(torch.rand(1, 40, 50)).shape == (1, 160, 200)
    assert up(torch.rand(1, 7, 30)).shape == (1, 28, 120)
    with pytest.raises(ValueError, match="NaN or Inf"):
        up(torch.full((1, 32, 32), float("nan")))
    with pytest.raises(ValueError, match=r"\[1, h, w\] grey frame"):
        up(torch.rand(3, 32, 32))


def test_sampling_with_a_seed_is_deterministic(tiny):
    frame = torch.rand(1, 40, 40)
    a = Upscaler(tiny, top_k=20, top_p=0.9, seed=4)(frame)
    b = Upscaler(tiny, top_k=20, top_p=0.9, seed=4)(frame)
    assert torch.equal(a, b)


def test_cuda_graphs_setting_gives_the_same_frame(tiny):
    """A frame of two tile batches (a full one and the remainder) through the static per-scale passes equals
    the eager frame; on a CPU those passes run eagerly, on CUDA they replay captured graphs."""
    frame = torch.rand(1, 40, 72)
    plain = Upscaler(tiny, batch_size=4, color_fix="none")(frame)
    graphed = Upscaler(tiny, batch_size=4, color_fix="none", cuda_graphs=True)(frame)
    assert torch.equal(plain, graphed)
    assert sorted(k[0][0] // 2 for k in tiny.generator.__dict__["_scale_graphs"]) == [2, 4]
    tiny.generator.release_graphs()


def test_cli_refuses_cuda_graphs_off_cuda(tmp_path, capsys):
    assert main(["upscale", str(tmp_path), "-o", str(tmp_path / "o"), "--cuda-graphs"]) == 2
    assert "--cuda-graphs needs a CUDA --device" in capsys.readouterr().err


def test_cli_keeps_bit_depth_and_reports_bad_files(tiny, tmp_path):
    weights = tmp_path / "tiny.safetensors"
    save_file({k: v.contiguous() for k, v in tiny.state_dict().items()}, str(weights))
    inputs = tmp_path / "in"
    inputs.mkdir()
    sixteen = (np.linspace(7000, 9000, 24 * 32).reshape(24, 32)).astype(np.uint16)  # a narrow radiometric range
    Image.fromarray(sixteen).save(inputs / "radiometric.tif")
    Image.fromarray((np.random.default_rng(0).random((20, 20)) * 255).astype(np.uint8)).save(inputs / "grey.png")
    (inputs / "broken.png").write_bytes(b"not an image")
    out = tmp_path / "out"
    code = main(["upscale", str(inputs), "-o", str(out), "--recipe", "real_iisr_x4_tiny", "--weights", str(weights),
                 "--batch-size", "4"])
    assert code == 1  # one file failed, the others were written
    sixteen_out = np.asarray(Image.open(out / "radiometric.tif"))
    assert sixteen_out.dtype == np.uint16 and sixteen_out.shape == (96, 128)
    # radiometric by default: every 4×4 block's mean is its input count
    assert np.abs(sixteen_out.astype(float).reshape(24, 4, 32, 4).mean(axis=(1, 3)) - sixteen).max() <= 0.5
    grey = Image.open(out / "grey.png")
    assert grey.mode == "L" and grey.size == (80, 80)
    assert not (out / "broken.png").exists()


@pytest.mark.skipif(not any(shutil.which(cc) for cc in ("c++", "g++", "clang++")),
                    reason="torch.compile on a CPU needs a C++ compiler")
def test_cli_compile_gives_the_frame_of_the_eager_run(tiny, tmp_path):
    weights = tmp_path / "tiny.safetensors"
    save_file({k: v.contiguous() for k, v in tiny.state_dict().items()}, str(weights))
    Image.fromarray((np.random.default_rng(1).random((24, 40)) * 255).astype(np.uint8)).save(tmp_path / "f.png")
    frames = []
    for extra in ([], ["--compile"]):
        out = tmp_path / f"out{len(extra)}"
        assert main(["upscale", str(tmp_path / "f.png"), "-o", str(out), "--recipe", "real_iisr_x4_tiny",
                     "--weights", str(weights), "--dtype", "float32", *extra]) == 0
        frames.append(np.asarray(Image.open(out / "f.png")).astype(int))
    assert np.abs(frames[0] - frames[1]).max() <= 1  # the same tokens; roundings of 1e-6 may move a grey level


def test_cli_without_weights_says_so(tmp_path):
    assert main(["upscale", str(tmp_path), "-o", str(tmp_path / "o"), "--recipe", "real_iisr_x4_tiny"]) == 2


def test_color_fixes():
    from realiisr.inference.color_fix import adain_color_fix, apply_color_fix, wavelet_color_fix

    gen = torch.Generator().manual_seed(0)
    lr = torch.rand(1, 3, 32, 32, generator=gen) * 0.5 + 0.25
    sr = (lr - 0.2).clamp(0, 1) * 0.5  # darker and lower contrast
    fixed = adain_color_fix(sr, lr)
    torch.testing.assert_close(fixed.mean(), lr.mean(), atol=1e-3, rtol=0)
    wave = wavelet_color_fix(sr, lr)
    assert abs(float(wave.mean() - lr.mean())) < abs(float(sr.mean() - lr.mean()))
    assert torch.equal(apply_color_fix("none", sr, lr), sr)
    with pytest.raises(ValueError, match="color fix must be"):
        apply_color_fix("gamma", sr, lr)


def test_model_upscale_keeps_the_input_kind(tiny):
    from PIL import Image as PILImage

    array8 = (np.random.default_rng(1).random((20, 24)) * 255).astype(np.uint8)
    out8 = tiny.upscale(array8)
    assert out8.dtype == np.uint8 and out8.shape == (80, 96)
    out16 = tiny.upscale(array8.astype(np.uint16) * 257)
    assert out16.dtype == np.uint16
    pil = tiny.upscale(PILImage.fromarray(array8))
    assert isinstance(pil, PILImage.Image) and pil.size == (96, 80)
    tensor = tiny.upscale(torch.rand(20, 24))
    assert tensor.shape == (80, 96) and tensor.dtype == torch.float32
    rgb = tiny.upscale(np.repeat(array8[..., None], 3, axis=-1))  # H×W×3 grayscale stored as RGB
    assert rgb.dtype == np.uint8 and rgb.shape == (80, 96)


def test_out_of_memory_retries_with_smaller_batches(tiny, monkeypatch):
    real = type(tiny).sample
    seen = []

    def flaky(self, lr, **kw):
        seen.append(lr.shape[0])
        if lr.shape[0] > 2:
            raise torch.OutOfMemoryError("simulated")
        return real(self, lr, **kw)

    monkeypatch.setattr(type(tiny), "sample", flaky)
    out = Upscaler(tiny, batch_size=8)(torch.rand(1, 64, 64))
    assert out.shape == (1, 256, 256) and seen[:3] == [8, 4, 2] and max(seen[3:]) <= 2


def test_model_upscale_resizes_16_bit_input_without_8_bit_quantisation(tiny, monkeypatch):
    import realiisr.inference.upscale as upscale_module

    flags = []
    real = upscale_module.pil_bicubic
    monkeypatch.setattr(upscale_module, "pil_bicubic", lambda *a, **k: (flags.append(a[3]), real(*a, **k))[1])
    tiny.upscale(np.full((16, 16), 40000, np.uint16))
    tiny.upscale(np.full((16, 16), 200, np.uint8))
    assert flags == [False, True]


def test_dtype_runs_the_model_under_autocast(tiny, monkeypatch):
    seen = []

    def identity(self, lr, **kw):
        seen.append(torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else None)
        return (lr + 1) / 2

    monkeypatch.setattr(type(tiny), "sample", identity)
    frame = torch.rand(1, 40, 48, generator=torch.Generator().manual_seed(1))
    full = Upscaler(tiny, overlap=4, color_fix="none", dtype="float32")(frame)
    half = Upscaler(tiny, overlap=4, color_fix="none", dtype="bfloat16")(frame)
    assert set(seen) == {None, torch.bfloat16} and torch.equal(half, full)  # blending stays float64 either way
    with pytest.raises(ValueError, match="dtype must be 'auto' or one of"):
        Upscaler(tiny, dtype="int8")(frame)
    seen.clear()
    Upscaler(tiny, overlap=4, color_fix="none")(frame)  # the default: auto
    expected = torch.bfloat16 if preferred_dtype(torch.device("cpu")) == "bfloat16" else None
    assert seen and set(seen) == {expected}


@pytest.mark.parametrize("capability, bf16, amx, cap, expected", [
    ("AVX512", True, False, "", "bfloat16"),
    ("AVX512", False, True, "", "bfloat16"),
    ("AVX512", False, False, "", "float32"),   # AVX-512 without bf16 instructions: bf16 is emulated
    ("AVX2", True, False, "", "float32"),      # ATEN_CPU_CAPABILITY capped: ATen would not use them
    ("AVX512", True, False, "avx2", "float32"),
])
def test_auto_dtype_is_bf16_only_where_the_cpu_computes_it(monkeypatch, capability, bf16, amx, cap, expected):
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: capability)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: bf16, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
    monkeypatch.setenv("REALIISR_MAX_CPU_ISA", cap)
    assert preferred_dtype(torch.device("cpu")) == expected


@pytest.mark.parametrize("kind", ["uint8", "uint16", "float32"])
def test_cli_and_api_give_the_same_frame(tiny, tmp_path, kind):
    """One image path: the same 8-bit, 16-bit (a narrow radiometric range) and float frame through
    `realiisr upscale` and `RealIISR.upscale` gives the same array."""
    weights = tmp_path / "tiny.safetensors"
    save_file({k: v.contiguous() for k, v in tiny.state_dict().items()}, str(weights))
    rng = np.random.default_rng(3)
    frame = {"uint8": (rng.random((20, 24)) * 255).astype(np.uint8),
             "uint16": (20000 + rng.random((20, 24)) * 8000).astype(np.uint16),
             "float32": rng.random((20, 24)).astype(np.float32)}[kind]
    suffix = ".tif"
    (tmp_path / "in").mkdir()
    Image.fromarray(frame).save(tmp_path / "in" / f"frame{suffix}")
    assert main(["upscale", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--recipe", "real_iisr_x4_tiny", "--weights", str(weights),
                 "--batch-size", "4", "--overlap", "2"]) == 0
    from_cli = np.asarray(Image.open(tmp_path / "out" / f"frame{suffix}"))
    from_api = tiny.upscale(frame, overlap=2, batch_size=4)
    assert from_api.dtype == frame.dtype and from_cli.dtype == frame.dtype
    np.testing.assert_array_equal(from_cli, from_api)
    if kind == "uint16":  # reaches the model as [0, 1] through the frame's own range, not ~[0.31, 0.43]
        mapped = tiny.upscale(frame, overlap=2, batch_size=4, radiometric=False)
        assert mapped.min() >= 19000 and mapped.max() <= 29000 and mapped.std() > 300


def test_output_scales_two_and_eight(tiny):
    """×2 is the ×4 output area-averaged, ×8 bicubic ×2 on it; radiometric frames keep their block means at
    each; a scale the model cannot give is refused by name."""
    frame = torch.rand(1, 20, 24)
    four = Upscaler(tiny, batch_size=8)(frame)
    two = Upscaler(tiny, batch_size=8, scale=2)(frame)
    eight = Upscaler(tiny, batch_size=8, scale=8)(frame)
    assert two.shape == (1, 40, 48) and eight.shape == (1, 160, 192)
    torch.testing.assert_close(two, torch.nn.functional.avg_pool2d(four[None], 2)[0])
    bicubic = torch.nn.functional.interpolate(four[None], scale_factor=2, mode="bicubic", align_corners=False)
    torch.testing.assert_close(eight, bicubic[0].clamp(0, 1))
    with pytest.raises(ValueError, match="scale 3: this ×4 model gives ×2, ×4 or ×8"):
        Upscaler(tiny, scale=3)(frame)
    counts = (20000 + np.random.default_rng(0).random((20, 24)) * 8000).astype(np.uint16)
    for scale in (2, 8):
        out = tiny.upscale(counts, scale=scale, batch_size=8)
        assert out.shape == (20 * scale, 24 * scale)
        blocks = out.astype(float).reshape(20, scale, 24, scale).mean(axis=(1, 3))
        assert np.abs(blocks - counts).max() <= 0.5


def test_tta_is_the_mean_of_the_views_turned_back(tiny):
    """``tta`` N averages the outputs for the first N of the eight flips and quarter turns, each undone; views
    the frame's own output does not know are refused by name."""
    frame = torch.rand(1, 20, 28, generator=torch.Generator().manual_seed(1))
    views = [  # (view of the frame, the same map back), in the order tta takes them
        (lambda x: x, lambda y: y),
        (lambda x: x.flip(-1), lambda y: y.flip(-1)),
        (lambda x: x.flip(-2), lambda y: y.flip(-2)),
        (lambda x: x.flip(-2, -1), lambda y: y.flip(-2, -1)),
        (lambda x: x.transpose(-2, -1), lambda y: y.transpose(-2, -1)),
        (lambda x: torch.rot90(x, 1, (-2, -1)), lambda y: torch.rot90(y, -1, (-2, -1))),
        (lambda x: torch.rot90(x, -1, (-2, -1)), lambda y: torch.rot90(y, 1, (-2, -1))),
        (lambda x: torch.rot90(x, 2, (-2, -1)).transpose(-2, -1), lambda y: torch.rot90(y.transpose(-2, -1), 2, (-2, -1))),
    ]
    alone = Upscaler(tiny, batch_size=8)
    outputs = [back(alone(view(frame))) for view, back in views]
    assert not torch.allclose(outputs[0], outputs[1], atol=1e-3)  # the views do differ for this model
    for n in (2, 8):
        mean = torch.stack(outputs[:n]).mean(0)
        torch.testing.assert_close(Upscaler(tiny, batch_size=8, tta=n)(frame), mean, atol=1e-6, rtol=0)
    guide = torch.rand(1, 80, 112, generator=torch.Generator().manual_seed(2))  # a clip's window turns with the frame
    mirrored = alone(frame.flip(-1), guide=guide.flip(-1)).flip(-1)
    torch.testing.assert_close(Upscaler(tiny, batch_size=8, tta=2)(frame, guide=guide),
                               (alone(frame, guide=guide) + mirrored) / 2, atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="tta must be one of"):
        Upscaler(tiny, tta=3)(frame)
