"""Methods by name and the benchmark: every method scored alike, a failing method reported while the others go on,
and the aligned score equal to an independent implementation within 0.1 dB on a real pair."""
from __future__ import annotations

import math
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from realiisr.cli import main
from realiisr.data.io import pil_bicubic, read_frame
from realiisr.evaluation.benchmark import run_benchmark
from realiisr.methods import list_methods, resolve_method


@pytest.fixture(scope="module")
def pairs(samples_dir):
    folder = samples_dir / "pairs"
    if not (folder / "HR").is_dir():
        pytest.skip(f"{folder} is absent")
    return folder


def _subset(pairs, tmp_path, names, lr_only=()):
    for sub in ("HR", "LR"):
        (tmp_path / sub).mkdir(parents=True)
    for name in names:
        for sub in ("HR", "LR"):
            shutil.copy(pairs / sub / f"{name}.png", tmp_path / sub)
    for name in lr_only:
        shutil.copy(pairs / "LR" / f"{name}.png", tmp_path / "LR")
    return tmp_path


def test_methods_resolve_by_name(tmp_path):
    assert {"bicubic", "lanczos"} <= set(list_methods())
    lr = torch.rand(1, 9, 13)
    assert torch.equal(resolve_method("bicubic")(lr), pil_bicubic(lr, 36, 52, eight_bit=True))
    assert resolve_method("lanczos")(lr).shape == (1, 36, 52)
    with pytest.raises(ValueError, match=r"unknown method 'nope'; known: bicubic, lanczos"):
        resolve_method("nope")
    with pytest.raises(ValueError, match="does not exist"):
        resolve_method(f"{tmp_path}/run.yaml:{tmp_path}/w.safetensors")


def test_benchmark_scores_every_method_and_survives_a_failing_one(pairs, tmp_path):
    data = _subset(pairs, tmp_path / "data", ["000009_0"], lr_only=["001202_1"])

    def broken(lr):
        raise RuntimeError("weights went missing")

    result = run_benchmark(data, {"bicubic": resolve_method("bicubic"), "lanczos": resolve_method("lanczos"),
                                  "broken": broken},
                           no_reference={"sharp": lambda sr: float(sr.diff(dim=-1).abs().mean())},
                           figures=tmp_path / "figures", progress=False)
    table = {row["method"]: row for row in result.table()}
    assert table["broken"]["failed_frames"] == 2 and "weights went missing" in result.markdown()
    assert table["lanczos"]["psnr_aligned"] > table["lanczos"]["psnr"]  # two captures: alignment matters
    assert abs(table["lanczos"]["psnr_aligned"] - table["bicubic"]["psnr_aligned"]) < 0.5
    assert table["lanczos"]["sharp"] > table["bicubic"]["sharp"]  # Lanczos rings sharper than bicubic
    assert "sharp_lr_only" in table["bicubic"]  # the LR-only frame, scored without reference
    result.write(tmp_path / "out")
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"benchmark.md", "benchmark.csv", "benchmark.json"}
    assert (tmp_path / "figures" / "000009_0.png").is_file()


def _independent_aligned_psnr(sr: np.ndarray, hr: np.ndarray) -> float:
    """Registration by OpenCV (phase correlation, then a coordinate search over scale and shift with cubic
    warps), least-squares gain/offset in numpy, border by the shift and magnification found."""
    import cv2

    h, w = hr.shape
    centre_y, centre_x = (h - 1) / 2, (w - 1) / 2

    def warp(scale, dy, dx):
        matrix = np.array([[scale, 0, centre_x * (1 - scale) + dx], [0, scale, centre_y * (1 - scale) + dy]])
        return cv2.warpAffine(hr, matrix, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)

    def score(candidate, crop=24):
        a, b = sr[crop:-crop, crop:-crop].ravel(), candidate[crop:-crop, crop:-crop].ravel()
        design = np.stack([a, np.ones_like(a)], axis=1)
        fitted = np.clip(design @ np.linalg.lstsq(design, b, rcond=None)[0], 0, 1)
        return 10 * math.log10(1 / np.mean((fitted - b) ** 2))

    (sx, sy), _ = cv2.phaseCorrelate(hr.astype(np.float32), sr.astype(np.float32))
    params = np.array([1.0, sy, sx])
    best = score(warp(*params))
    for step in ([0.01, 1.0, 1.0], [0.003, 0.3, 0.3], [0.001, 0.1, 0.1], [0.0003, 0.03, 0.03]):
        improved = True
        while improved:
            improved = False
            for axis in range(3):
                for sign in (-1, 1):
                    trial = params.copy()
                    trial[axis] += sign * step[axis]
                    value = score(warp(*trial))
                    if value > best + 1e-6:
                        params, best, improved = trial, value, True
    crop = int(math.ceil(max(abs(params[1]), abs(params[2])) + abs(1 - 1 / params[0]) * max(h, w) / 2)) + 2
    return score(warp(*params), crop)


@pytest.mark.slow
def test_aligned_score_matches_an_independent_implementation(pairs, tmp_path):
    data = _subset(pairs, tmp_path / "data", ["000822_0"])  # the pair with the largest shift (7 HR px)
    methods = {"bicubic": resolve_method("bicubic"), "real_iisr_x4_flir": resolve_method("real_iisr_x4_flir")}
    result = run_benchmark(data, methods, progress=False)
    hr = read_frame(data / "HR" / "000822_0.png")[0].double().numpy()
    lr = read_frame(data / "LR" / "000822_0.png")
    for method, upscale in methods.items():
        ours = next(r["psnr_aligned"] for r in result.paired.rows if r["method"] == method)
        theirs = _independent_aligned_psnr(upscale(lr)[0].double().numpy(), hr)
        assert ours == pytest.approx(theirs, abs=0.1), method


def test_cli_benchmark_writes_the_table(pairs, tmp_path):
    data = _subset(pairs, tmp_path / "data", ["000191_1"])
    assert main(["benchmark", "--data", str(data), "--methods", "bicubic,lanczos", "-o", str(tmp_path / "out"),
                 "--no-figures"]) == 0
    text = (tmp_path / "out" / "benchmark.md").read_text()
    assert "| bicubic |" in text and "| lanczos |" in text and "niqe_thermal" in text
    header = next(line for line in text.splitlines() if line.startswith("| method |"))
    assert "| brisque |" in header and "| peak_mb |" in header and "| seconds_per_frame |" in header
    from realiisr.evaluation.pyiqa_weights import missing_weights

    if missing_weights("lpips") is not None:  # no local weights: named in the notes, not downloaded
        assert "lpips: not reported, weights not found" in text
    assert main(["benchmark", "--data", str(tmp_path / "none"), "--methods", "bicubic"]) == 2


def test_peak_memory_and_the_sweep(pairs, samples_dir, tmp_path):
    from realiisr.evaluation.benchmark import add_sweep

    data = _subset(pairs, tmp_path / "data", ["000191_1"])
    bicubic = resolve_method("bicubic")

    def hungry(lr):  # bicubic, after touching 256 MB of scratch memory
        scratch = torch.ones(64 * 2**20)
        return bicubic(lr) + 0 * scratch[0]

    result = run_benchmark(data, {"bicubic": bicubic, "hungry": hungry}, progress=False)
    table = {row["method"]: row for row in result.table()}
    if math.isnan(table["bicubic"]["peak_mb"]):
        pytest.skip("no /proc/self/clear_refs here: peak memory is not measured")
    assert table["hungry"]["peak_mb"] > 200 > table["bicubic"]["peak_mb"]
    add_sweep(result, {"bicubic": bicubic, "lanczos": resolve_method("lanczos")}, samples_dir / "pairs" / "HR", frames=1)
    assert [(r["psf"], r["width"]) for r in result.sweep][:2] == [("gaussian", 1.0), ("gaussian", 2.0)]
    assert {r["method"] for r in result.sweep} == {"lanczos"} and len(result.sweep) == 7
    assert abs(result.sweep[0]["psnr_gain"]) < 1.5  # Lanczos is bicubic's near neighbour
    text = result.markdown()
    assert "Degradation sweep" in text and "| lanczos |" in text
