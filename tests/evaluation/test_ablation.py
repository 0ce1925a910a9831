"""`realiisr ablate`: every variant trained and evaluated with one budget; a broken variant loses nothing else."""
from __future__ import annotations

import csv

import pytest

from realiisr.cli import main
from realiisr.experiments.ablation import parse_variant

MICRO = ["tokenizer.patch_nums=[1,2,4]", "generator.patch_nums=[1,2,4]", "generator.context_maps=[4,4]",
         "generator.depth=1"]


def test_parse_variant():
    assert parse_variant("edge=guidance:my_dist:edge_only") == ("edge", {"guidance.type": "my_dist:edge_only"})
    assert parse_variant("wide=generator.width:256,losses.toc:x") == ("wide", {"generator.width": "256", "losses.toc": "x"})
    with pytest.raises(ValueError, match="name=key:value"):
        parse_variant("nothing")


def test_ablate_smoke(samples_dir, tmp_path):
    pytest.importorskip("realiisr_example_plugin", reason="the lr_only/edge_only guidance come from the example plugin")
    pytest.importorskip("realiisr_diffusion", reason="pip install -e plugins/realiisr-diffusion")
    out = tmp_path / "ablation"
    code = main(["ablate", "--data", str(samples_dir / "pairs"), "--holdout", "000191_1", "--steps", "1",
                 "--out", str(out), "--variants", "full,no_tsg,no_cac,no_toc,diffusion",
                 "--variant", "edge=guidance:edge_only", "--variant", "broken=generator:not_installed",
                 "batch_size=2", *MICRO])
    assert code == 1  # the 'broken' variant names a generator nobody provides
    with open(out / "ablation.csv") as handle:
        rows = {r["variant"]: r for r in csv.DictReader(handle)}
    assert list(rows) == ["bicubic", "full", "no_tsg", "no_cac", "no_toc", "diffusion", "edge", "broken"]
    assert "no generator named 'not_installed'" in rows["broken"]["error"]
    for name in ("full", "no_tsg", "no_cac", "no_toc", "diffusion", "edge"):
        assert rows[name]["error"] == "" and 0 <= float(rows[name]["order_acc"]) <= 1 and float(rows[name]["psnr"]) > 5
    assert int(rows["no_tsg"]["params"]) < int(rows["full"]["params"])
    assert (out / "ablation.png").stat().st_size > 5_000 and (out / "ablation.md").is_file()


@pytest.mark.slow
def test_ablate_scores_whole_pairs_and_the_sweep_and_resumes(samples_dir, tmp_path):
    import json

    from PIL import Image

    pairs = tmp_path / "pairs"
    for sub, side in (("HR", 256), ("LR", 64)):  # the pair's top-left quarter keeps the test short
        (pairs / sub).mkdir(parents=True)
        Image.open(samples_dir / "pairs" / sub / "000191_1.png").crop((0, 0, side, side)).save(pairs / sub / "a.png")
    out = tmp_path / "ablation"
    args = ["ablate", "--data", str(samples_dir / "pairs"), "--steps", "1", "--out", str(out),
            "--variants", "full", "--pairs", str(pairs), "--sweep", str(samples_dir / "pairs" / "HR"),
            "--sweep-frames", "1", "batch_size=2", *MICRO]
    assert main(args) == 0
    rows = {r["variant"]: r for r in json.loads((out / "ablation.json").read_text())}
    assert 28 < rows["bicubic"]["pairs_psnr_aligned"] < 40 and "sweep_gain" not in rows["bicubic"]
    # one step of a micro model: numbers, not quality
    assert 5 < rows["full"]["pairs_psnr_aligned"] < 40 and len(rows["full"]["sweep"]) == 7
    assert (out / "full" / "recipe.yaml").is_file() and (out / "full" / "step-00000001" / "model.safetensors").is_file()
    args = args[:args.index("--sweep")] + args[args.index("--sweep-frames") + 2:]
    assert main(args) == 0  # finished variants are loaded, not trained again: same scores
    again = {r["variant"]: r for r in json.loads((out / "ablation.json").read_text())}
    assert again["full"]["pairs_psnr_aligned"] == pytest.approx(rows["full"]["pairs_psnr_aligned"], abs=1e-6)
