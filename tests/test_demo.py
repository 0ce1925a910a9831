"""`realiisr demo`: the shipped model beside bicubic on the real samples, and generated frames where ../shared is absent."""
from __future__ import annotations

from realiisr.cli import main

BASELINES = ("realesrgan_x4plus", "realsr_df2k", "span_clearreality4x")


def _installed(method: str) -> bool:
    try:
        from realiisr_ncnn_baselines.models import model_files

        model_files(method)
        import ncnn  # noqa: F401
    except ImportError:
        return False
    return True


def test_demo_falls_back_to_generated_frames(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("REALIISR_SHARED", str(tmp_path / "no-shared-here"))
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "generated thermal frames" in printed
    table = (out / "metrics.md").read_text()
    methods = ["bicubic", "lanczos", "real_iisr_x4_flir"] + [m for m in BASELINES if _installed(m)]
    assert table.count("generated/frame_") == 3 * len(methods) and "PSNR" in table
    for method in methods:
        assert len(list((out / method / "generated").glob("*.png"))) == 3, method
    if _installed("realesrgan_x4plus"):
        assert "baselines: realesrgan_x4plus" in printed and "BRISQUE" in table
    assert len(list((out / "figures" / "generated").glob("*.png"))) == 3
    assert "| generated |" in table


def test_demo_runs_the_shipped_model_on_pairs_it_never_trained_on(tmp_path, samples_dir):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--samples", str(samples_dir), "--no-baselines"]) == 0
    table = (out / "metrics.md").read_text()
    assert "| pairs/000191_1 | held out | bicubic |" in table and "trained on" not in table
    assert "| pairs/000191_1 | held out | real_iisr_x4_flir |" in table
    assert (out / "figures" / "pairs" / "000191_1.png").is_file()
    assert (out / "real_iisr_x4_flir" / "pairs" / "000191_1.png").is_file()
    header = next(line for line in table.splitlines() if line.startswith("| image |")).split("|")

    def cells(method):
        row = next(line for line in table.splitlines() if line.startswith(f"| pairs/000191_1 | held out | {method} |"))
        return dict(zip((h.strip() for h in header), (c.strip() for c in row.split("|"))))

    bicubic, model = cells("bicubic"), cells("real_iisr_x4_flir")
    # this pair is a second capture (x1.012, ~3.4 HR px off, AGC gain ~0.91): the aligned score sees past it
    assert float(bicubic["PSNR aligned"]) > float(bicubic["PSNR raw"]) + 2.0
    assert float(bicubic["SSIM aligned"]) > float(bicubic["SSIM raw"])
    assert float(model["PSNR aligned"]) > float(bicubic["PSNR aligned"]) + 0.5
    assert "Means:" in table
    # thermal NIQE beside the full-reference scores; the LR-only frames get it alone
    assert float(model["thermal NIQE"]) < float(bicubic["thermal NIQE"])
    lone = next(line for line in table.splitlines() if "| no HR | lanczos |" in line)
    assert float(dict(zip((h.strip() for h in header), (c.strip() for c in lone.split("|"))))["thermal NIQE"]) > 0
