"""`realiisr evaluate` on the real sample pairs, with bicubic beside the method; metric definitions."""
from __future__ import annotations

import json
import shutil

import pytest
import torch

from realiisr.cli import main
from realiisr.evaluation.metrics import psnr, thermal_order_accuracy


def test_thermal_order_accuracy_counts_kept_orders():
    hr = torch.zeros(1, 1, 16, 16)
    hr[..., :, 8:] = 1.0  # two patch columns: left dark, right bright
    assert float(thermal_order_accuracy(hr, hr)) == 1.0
    flipped = 1 - hr
    assert float(thermal_order_accuracy(flipped, hr)) == 0.0
    assert float(thermal_order_accuracy(torch.full_like(hr, 0.5), hr)) == 0.0  # ties do not keep an order


def test_psnr_matches_its_definition():
    hr = torch.zeros(1, 1, 8, 8)
    sr = torch.full_like(hr, 0.1)
    assert float(psnr(sr, hr)) == pytest.approx(20.0)


def test_evaluate_sample_pairs_with_bicubic_and_figures(samples_dir, tmp_path):
    sr = tmp_path / "sr"
    shutil.copytree(samples_dir / "pairs" / "HR", sr)  # a perfect "method"
    subset = tmp_path / "subset.txt"
    subset.write_text("000009_0\n001135_1\n")
    out, figures = tmp_path / "out", tmp_path / "fig"
    code = main(["evaluate", "--sr", str(sr), "--hr", str(samples_dir / "pairs" / "HR"), "--out", str(out),
                 "--figures", str(figures), "--subset", str(subset), "--metrics", "psnr,ssim,lpips"])
    assert code == 0
    report = json.loads((out / "metrics.json").read_text())
    assert {r["image"] for r in report["rows"]} == {"000009_0", "001135_1"}
    bicubic = next(m for m in report["means"] if m["method"] == "bicubic")
    perfect = next(m for m in report["means"] if m["method"] == "sr")
    assert 27 < bicubic["psnr"] < 30 and 0.8 < bicubic["ssim"] < 0.95  # the README's 25.6–29.2 dB range
    assert perfect["order_acc"] == 1.0 and perfect["toc"] == 0.0 and bicubic["order_acc"] < 1.0
    assert "lpips" in report["unavailable"]  # no local weights: reported, never a random-weight score
    assert (figures / "000009_0.png").stat().st_size > 10_000
    assert (out / "metrics.md").read_text().count("| mean |") == 2


def test_evaluate_names_a_bad_subset(samples_dir, tmp_path):
    subset = tmp_path / "subset.txt"
    subset.write_text("nope\n")
    code = main(["evaluate", "--sr", str(samples_dir / "pairs" / "HR"), "--hr", str(samples_dir / "pairs" / "HR"),
                 "--subset", str(subset), "--out", str(tmp_path / "o")])
    assert code == 2


def test_evaluate_register_scores_bicubic_higher_and_lists_the_shifts(samples_dir, tmp_path):
    """`--register` on two real pairs: the HR moved onto the LR grid lifts bicubic, and the report says by how much."""
    sr, subset = tmp_path / "sr", tmp_path / "subset.txt"
    shutil.copytree(samples_dir / "pairs" / "HR", sr)
    subset.write_text("000191_1\n001135_1\n")
    means = {}
    for register in (False, True):
        out = tmp_path / f"out{register}"
        argv = ["evaluate", "--sr", str(sr), "--hr", str(samples_dir / "pairs" / "HR"), "--out", str(out),
                "--subset", str(subset)] + (["--register"] if register else [])
        assert main(argv) == 0
        report = json.loads((out / "metrics.json").read_text())
        means[register] = next(m for m in report["means"] if m["method"] == "bicubic")["psnr"]
    assert set(report["registration"]) == {"000191_1", "001135_1"}
    assert abs(report["registration"]["000191_1"][1]) > 2  # whole HR pixels off
    assert means[True] > means[False] + 0.3
    assert "Registered" in (tmp_path / "outTrue" / "metrics.md").read_text()


def test_aligned_score_sees_through_magnification_shift_and_agc(samples_dir):
    """An SR equal to the HR, then refocused (x1.015), shifted and AGC-scaled like a second capture: raw PSNR
    punishes it, the aligned score finds it nearly perfect and keeps bicubic where it was."""
    from realiisr.data.io import pil_bicubic, read_frame
    from realiisr.data.registration import Similarity, apply_similarity
    from realiisr.evaluation.evaluate import evaluate_images

    hr = read_frame(samples_dir / "pairs" / "HR" / "000191_1.png")
    lr = read_frame(samples_dir / "pairs" / "LR" / "000191_1.png")
    bicubic = pil_bicubic(lr, 512, 512, eight_bit=True)
    # HR as a second capture of the scene the LR sees: undo the pair's own registration, then the AGC
    from realiisr.data.registration import estimate_similarity

    truth = estimate_similarity(hr, bicubic)
    capture = apply_similarity(hr.double(), truth).float() * 0.9 + 0.03
    unseen = apply_similarity(capture.double(), Similarity(1 / 1.015, 1.0, -2.0)).float()  # what a camera would store
    result = evaluate_images([("x", {"bicubic": bicubic, "perfect": capture}, unseen)], align=True)
    rows = {r["method"]: r for r in result.rows}
    assert rows["perfect"]["psnr"] < 30  # raw: misaligned and rescaled
    assert rows["perfect"]["psnr_aligned"] > 45 and rows["perfect"]["ssim_aligned"] > 0.99
    assert rows["perfect"]["order_acc_aligned"] > 0.99
    assert 29.5 < rows["bicubic"]["psnr_aligned"] < 33 and rows["bicubic"]["psnr_aligned"] > rows["bicubic"]["psnr"]
    scale, dy, dx = result.alignment["x"]
    assert scale == pytest.approx(1.015, abs=2e-3)
    assert "Aligned" in result.markdown()


def test_evaluate_align_cli_reports_both_scores(samples_dir, tmp_path):
    sr, subset = tmp_path / "sr", tmp_path / "subset.txt"
    shutil.copytree(samples_dir / "pairs" / "HR", sr)
    subset.write_text("001135_1\n")
    out = tmp_path / "out"
    assert main(["evaluate", "--sr", str(sr), "--hr", str(samples_dir / "pairs" / "HR"), "--out", str(out),
                 "--subset", str(subset), "--align"]) == 0
    report = json.loads((out / "metrics.json").read_text())
    bicubic = next(m for m in report["means"] if m["method"] == "bicubic")
    assert {"psnr", "ssim", "psnr_aligned", "ssim_aligned", "order_acc_aligned"} <= set(bicubic)
    assert bicubic["psnr_aligned"] > bicubic["psnr"] + 1.0
