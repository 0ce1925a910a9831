"""`realiisr demo` where ../shared is absent: generated thermal frames, outputs and a table with bicubic."""
from __future__ import annotations

from realiisr.cli import main


def test_demo_falls_back_to_generated_frames(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("REALIISR_SHARED", str(tmp_path / "no-shared-here"))
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "generated thermal frames" in printed
    table = (out / "metrics.md").read_text()
    assert table.count("generated/frame_") == 3 and "bicubic" in table and "PSNR" in table
    assert len(list((out / "bicubic" / "generated").glob("*.png"))) == 3
    assert len(list((out / "figures" / "generated").glob("*.png"))) == 3
    assert "| generated |" in table


def test_demo_without_weights_does_not_call_pairs_trained_on(tmp_path, samples_dir):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--samples", str(samples_dir)]) == 0
    table = (out / "metrics.md").read_text()
    assert "| pairs/000191_1 | real pair | bicubic |" in table and "trained on" not in table
    assert (out / "figures" / "pairs" / "000191_1.png").is_file()
    row = next(line for line in table.splitlines() if line.startswith("| pairs/000191_1 |")).split("|")
    header = next(line for line in table.splitlines() if line.startswith("| image |")).split("|")
    cells = dict(zip((h.strip() for h in header), (c.strip() for c in row)))
    # this pair is a second capture (x1.012, ~3.4 HR px off, AGC gain ~0.91): the aligned score sees past it
    assert float(cells["PSNR aligned"]) > float(cells["PSNR raw"]) + 2.0
    assert float(cells["SSIM aligned"]) > float(cells["SSIM raw"])
    assert "Means:" in table
