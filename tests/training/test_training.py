"""Training: the loss goes down, a resumed run equals an uninterrupted one, saves are atomic, CLI round trip."""
from __future__ import annotations

import csv
import dataclasses
import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import realiisr
from realiisr.cli import main
from realiisr.data.datasets import DegradedThermalDataset
from realiisr.data.synthetic import thermal_frame
from realiisr.training.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from realiisr.training.loop import PlannedBatches, TrainConfig, train, validate
from realiisr.training.optim import lr_factor, param_groups

MICRO = {
    "tokenizer.patch_nums": [1, 2, 4],
    "generator.patch_nums": [1, 2, 4],
    "generator.context_maps": [4, 4],
    "generator.depth": 1,
}


def micro_model(seed=0):
    torch.manual_seed(seed)
    return realiisr.build("real_iisr_x4_tiny", overrides=MICRO)


def frames(count=6):
    return DegradedThermalDataset(lambda i, g: thermal_frame(96, 96, generator=g)[0], length=count, crop=64, scale=4)


def _rows(path: Path) -> list[dict]:
    with open(path) as handle:
        return list(csv.DictReader(handle))


def test_generator_loss_goes_down(tmp_path):
    config = TrainConfig(stage="generator", steps=30, batch_size=4, lr=2e-3, warmup_fraction=0.0, log_every=5,
                         val_every=1000, save_every=1000, val_samples=2)
    train(micro_model(), frames(), config, tmp_path, progress=False)
    totals = [float(r["total"]) for r in _rows(tmp_path / "train.csv")]
    assert totals[-1] < 0.8 * totals[0], totals


def test_tokenizer_stage_improves_reconstruction_and_restores_freezing(tmp_path):
    model = micro_model()
    data = frames()
    config = TrainConfig(stage="tokenizer", steps=24, batch_size=4, lr=2e-3, warmup_fraction=0.0, log_every=4,
                         val_every=12, save_every=12, dead_code_every=8, val_samples=4)
    before = validate(model, data, config, torch.device("cpu"))["val_psnr"]  # the same crops as after
    train(model, data, config, tmp_path, val_data=data, progress=False)
    val = _rows(tmp_path / "validation.csv")
    assert float(val[-1]["val_psnr"]) > before + 1.0
    assert not any(p.requires_grad for p in model.tokenizer.parameters())  # the recipe's freezing is back
    assert model.codebook.U.requires_grad


def test_resume_continues_exactly(tmp_path):
    data = frames()
    config = TrainConfig(stage="generator", steps=8, batch_size=2, lr=1e-3, log_every=1, val_every=1000,
                         save_every=4, keep_last=5)
    straight = micro_model()
    train(straight, data, config, tmp_path / "straight", progress=False)
    interrupted = micro_model()
    train(interrupted, data, TrainConfig(**{**config.to_dict(), "steps": 8}), tmp_path / "resumed", progress=False)
    # simulate a kill after step 4: drop the later checkpoints and the log lines, resume in a new model
    for folder in sorted((tmp_path / "resumed").glob("step-*"))[1:]:
        for file in folder.iterdir():
            file.unlink()
        folder.rmdir()
    (tmp_path / "resumed" / "latest").write_text('{"step": 4, "folder": "step-00000004"}')
    rows = _rows(tmp_path / "resumed" / "train.csv")[:4]
    with open(tmp_path / "resumed" / "train.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    torch.manual_seed(123)  # the resumed process starts with another RNG state
    resumed = micro_model(seed=99)
    train(resumed, data, config, tmp_path / "resumed", resume=True, progress=False)
    a = [float(r["total"]) for r in _rows(tmp_path / "straight" / "train.csv")]
    b = [float(r["total"]) for r in _rows(tmp_path / "resumed" / "train.csv")]
    assert a == b
    for key, value in straight.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key
    # a planned stop (stop_after) ends at that step on the full schedule; resuming then finishes the same run
    paused = micro_model()
    train(paused, data, dataclasses.replace(config, stop_after=4), tmp_path / "paused", progress=False)
    assert (tmp_path / "paused" / "step-00000004").is_dir() and len(_rows(tmp_path / "paused" / "train.csv")) == 4
    train(paused, data, config, tmp_path / "paused", resume=True, progress=False)
    assert [float(r["total"]) for r in _rows(tmp_path / "paused" / "train.csv")] == a


def test_a_save_killed_midway_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    model = micro_model()
    save_checkpoint(tmp_path, 1, model, {"step": 1})
    assert latest_checkpoint(tmp_path).name == "step-00000001"

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError):
        save_checkpoint(tmp_path, 2, model, {"step": 2})
    assert latest_checkpoint(tmp_path).name == "step-00000001"
    monkeypatch.undo()
    state = load_checkpoint(latest_checkpoint(tmp_path), micro_model(seed=5))
    assert state == {"step": 1}


def test_batches_are_planned_from_seed_and_step():
    a = PlannedBatches(10, 4, seed=1, start=0, stop=6)
    b = PlannedBatches(10, 4, seed=1, start=3, stop=6)
    assert list(a)[3:] == list(b)
    first_epoch = [i for batch in list(a)[:3] for _, i in batch]
    assert set(first_epoch) == set(range(10)) and len(first_epoch) == 12  # one epoch covers every item


def test_schedule_and_no_decay_groups():
    assert lr_factor(0, 100, 10) == pytest.approx(0.005)
    assert lr_factor(10, 100, 10) == 1.0 and lr_factor(30, 100, 10) == 1.0
    assert lr_factor(100, 100, 10) == pytest.approx(0.01)
    model = micro_model()
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    assert "generator.pos_start" in names
    groups = param_groups(model, 0.05)
    no_decay = {id(p) for p in groups[1]["params"]}
    by_name = dict(model.named_parameters())
    assert id(by_name["generator.pos_start"]) in no_decay
    assert id(by_name["generator.blocks.0.attn.scale_mul"]) in no_decay
    assert id(by_name["generator.blocks.0.ffn.fc1.weight"]) not in no_decay


def test_cli_train_tokenizer_then_generator(tmp_path, samples_dir):
    run = tmp_path / "tok"
    args = ["--data", str(samples_dir / "pairs"), "--holdout", "000009_0", "--no-progress", "--steps", "2",
            "batch_size=2", "val_samples=1", "lr=1e-3"] + [f"{k}={v}" for k, v in MICRO.items()]
    assert main(["train-tokenizer", "--out", str(run), *args]) == 0
    weights = latest_checkpoint(run) / "model.safetensors"
    assert main(["train", "--out", str(tmp_path / "gen"), "--init", str(weights), *args]) == 0
    assert (tmp_path / "gen" / "run.yaml").is_file() and latest_checkpoint(tmp_path / "gen") is not None
    assert os.path.getsize(tmp_path / "gen" / "validation.csv") > 0
    rows = _rows(tmp_path / "gen" / "validation.csv")  # the last step logs with its validation
    assert float(rows[-1]["samples_per_s"]) == pytest.approx(2 * float(rows[-1]["steps_per_s"]))
    for stage in ("tok", "gen"):  # a grid per validation: LR | output | HR columns, one row per sample
        grids = sorted((tmp_path / stage / "val_images").glob("step-*.png"))
        assert len(grids) == 1 and Image.open(grids[0]).size == (3 * 64 + 4, 64)
        assert list((tmp_path / stage / "tensorboard").glob("events.out.tfevents.*"))
    # the run's recipe.yaml loads its weights in the upscale command (recipe overrides included)
    frame = tmp_path / "frame.png"
    Image.fromarray((np.random.default_rng(0).random((20, 24)) * 255).astype(np.uint8)).save(frame)
    gen_weights = latest_checkpoint(tmp_path / "gen") / "model.safetensors"
    assert main(["upscale", str(frame), "-o", str(tmp_path / "up"), "--recipe", str(tmp_path / "gen" / "recipe.yaml"),
                 "--weights", str(gen_weights)]) == 0
    assert Image.open(tmp_path / "up" / "frame.png").size == (96, 80)


def test_cli_train_starts_a_lighter_decoder_from_a_full_one(tmp_path, samples_dir, capsys):
    """``--init-drop-decoder-levels 1`` starts a ``decoder_shuffle_levels=1`` recipe from a full-decoder state: the
    levels kept arrive one index down with their weights; without the option the same start is refused, naming
    the keys."""
    from safetensors.torch import save_file

    full = micro_model()
    save_file(full.state_dict(), tmp_path / "full.safetensors")
    args = ["--data", str(samples_dir / "pairs"), "--holdout", "000009_0", "--no-progress", "--steps", "1",
            "--init", str(tmp_path / "full.safetensors"), "batch_size=2", "val_samples=1", "lr=1e-3",
            "tokenizer.decoder_shuffle_levels=1"] + [f"{k}={v}" for k, v in MICRO.items()]
    assert main(["train", "--out", str(tmp_path / "refused"), *args]) == 2
    assert "tokenizer.decoder.up.4" in capsys.readouterr().err
    no_init = [a for a in args if a not in ("--init", str(tmp_path / "full.safetensors"))]
    assert main(["train", "--out", str(tmp_path / "alone"), "--init-drop-decoder-levels", "1", *no_init]) == 2
    assert "--init" in capsys.readouterr().err and not (tmp_path / "alone").exists()
    assert main(["train", "--out", str(tmp_path / "light"), "--init-drop-decoder-levels", "1", *args]) == 0
    light = realiisr.build(tmp_path / "light" / "recipe.yaml",
                           weights=latest_checkpoint(tmp_path / "light") / "model.safetensors")
    assert light.tokenizer.decoder.shuffle_levels == 1
    # the tokenizer is frozen in this stage: its kept levels are the full decoder's, one index down
    for level in range(len(light.tokenizer.decoder.up)):
        for name, tensor in light.tokenizer.decoder.up[level].state_dict().items():
            if not (level == 0 and name.startswith("upsample.")):
                assert torch.equal(tensor, full.tokenizer.decoder.up[level + 1].state_dict()[name]), (level, name)
    import yaml

    assert yaml.safe_load((tmp_path / "light" / "run.yaml").read_text())["init_drop_decoder_levels"] == 1
    # distillation takes the --init model as its teacher: it needs the levels to drop
    assert main(["train", "--out", str(tmp_path / "distil"), *args, "distill_decoder=true"]) == 2
    assert "--init-drop-decoder-levels" in capsys.readouterr().err
    assert main(["train", "--out", str(tmp_path / "distil"), "--init-drop-decoder-levels", "1", *args,
                 "distill_decoder=true"]) == 0
    assert yaml.safe_load((tmp_path / "distil" / "run.yaml").read_text())["train"]["distill_decoder"] is True


def test_image_grid_puts_samples_in_rows_and_panels_in_columns():
    from realiisr.training.logs import image_grid

    a, b = torch.zeros(2, 3, 4, 5), torch.ones(2, 1, 4, 5)
    grid = image_grid({"a": a, "b": b}, gap=1)
    assert grid.shape == (9, 11) and float(grid[:4, :5].max()) == 0 and float(grid[5:, 6:].min()) == 1
    with pytest.raises(ValueError, match="panel 'b'"):
        image_grid({"a": a, "b": torch.ones(1, 1, 4, 5)})


def test_tokenizer_adversarial_term_trains_a_discriminator_and_resumes(tmp_path):
    model = micro_model()
    config = TrainConfig(stage="tokenizer", steps=4, batch_size=2, lr=1e-3, log_every=1, val_every=1000,
                         save_every=2, adversarial_weight=0.1, adversarial_start=2)
    train(model, frames(), config, tmp_path, progress=False)
    rows = _rows(tmp_path / "train.csv")
    assert [r["adv_g"] != "" for r in rows] == [False, False, True, True]  # from adversarial_start on
    assert all(float(r["adv_d"]) > 0 for r in rows[2:])
    state = load_checkpoint(latest_checkpoint(tmp_path), micro_model())
    assert set(state["adversary"]) == {"model", "optimizer"} and state["adversary"]["optimizer"]["state"]
    config.steps = 6
    train(micro_model(), frames(), config, tmp_path, resume=True, progress=False)  # continues with its discriminator
    assert latest_checkpoint(tmp_path).name == "step-00000006"


def test_optional_terms_are_tokenizer_only_and_perceptual_needs_local_weights(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="tokenizer-stage terms"):
        train(micro_model(), frames(), TrainConfig(stage="generator", steps=1, adversarial_weight=0.1), tmp_path)
    import realiisr.evaluation.evaluate as evaluate

    monkeypatch.setattr(evaluate, "load_metrics", lambda names, **kw: ({}, {"lpips": "weights not available locally"}))
    with pytest.raises(RuntimeError, match="perceptual_weight > 0 needs LPIPS: weights not available locally"):
        train(micro_model(), frames(), TrainConfig(stage="tokenizer", steps=1, perceptual_weight=0.5), tmp_path)


def test_training_under_bf16_autocast(tmp_path):
    """The CUDA default (bf16 autocast) on the CPU: losses, a backward and a few optimiser steps stay finite,
    the physics losses see float32 images, and both stages train (the decoder's bf16 output once failed TOC)."""
    model = micro_model()
    batch = [frames()[i] for i in range(2)]
    lr, hr = torch.stack([b["lr"] for b in batch]), torch.stack([b["hr"] for b in batch])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        losses = model.training_losses(lr, hr)
    assert losses["sr"].dtype == torch.float32 and all(torch.isfinite(losses[k]) for k in ("ce", "mse", "toc", "total"))
    losses["total"].backward()
    detail = realiisr.build("real_iisr_x4_tiny_detail", overrides={**MICRO, "tokenizer.patch_nums": [1, 2, 4, 8],
                                                                     "generator.patch_nums": [1, 2, 4, 8],
                                                                     "generator.context_maps": [8, 8]})
    for stage, model in (("tokenizer", micro_model()), ("generator", micro_model()), ("generator", detail)):
        config = TrainConfig(stage=stage, steps=4, batch_size=2, amp="bf16", log_every=2, val_every=4, save_every=4,
                             val_samples=2, lr=1e-3, tensorboard=False)
        out = tmp_path / f"{stage}{id(model)}"
        metrics = train(model, frames(), config, out, val_data=frames(), progress=False)
        assert all(math.isfinite(float(r["total"])) for r in _rows(out / "train.csv"))
        assert math.isfinite(metrics["val_psnr"]) and "val_psnr_aligned" in metrics


def test_train_decoder_tunes_the_decoder_only_and_keeps_the_tokens(tmp_path):
    """``train_decoder``: the pixel losses of the predicted tokens reach the decoder side (post-quant conv,
    decoder, LR projection); the encoder, the residual convs and the code vectors, which define the tokens the
    generator learns to predict, stay as they were."""
    overrides = {**MICRO, "tokenizer.patch_nums": [1, 2, 4, 8], "generator.patch_nums": [1, 2, 4, 8],
                 "generator.context_maps": [8, 8], "tokenizer.lr_condition": "unshuffle"}
    torch.manual_seed(0)
    model = realiisr.build("real_iisr_x4_tiny_detail", overrides=overrides)
    torch.nn.init.normal_(model.tokenizer.decoder.conv_out.weight, std=1e-3)  # zero-initialised: no grads past it
    before = {k: v.clone() for k, v in model.state_dict().items()}
    config = TrainConfig(stage="generator", steps=2, batch_size=2, lr=1e-3, warmup_fraction=0.0, log_every=2,
                         val_every=100, save_every=100, tensorboard=False, train_decoder=True)
    train(model, frames(), config, tmp_path, progress=False)
    changed = {k for k, v in model.state_dict().items() if v.dtype.is_floating_point and not torch.equal(v, before[k])}
    for prefix in ("tokenizer.decoder.", "tokenizer.post_quant_conv.", "tokenizer.lr_proj.", "generator."):
        assert any(k.startswith(prefix) for k in changed), prefix
    frozen = ("tokenizer.encoder.", "tokenizer.quant_conv.", "tokenizer.phis.", "codebook.embedding.")
    assert not [k for k in changed if k.startswith(frozen)]
    assert not any(p.requires_grad for p in model.tokenizer.parameters())  # the recipe's freezing is back

    plain = realiisr.build("real_iisr_x4_tiny_detail", overrides=overrides)
    kept = {k: v.clone() for k, v in plain.tokenizer.state_dict().items()}
    train(plain, frames(), dataclasses.replace(config, train_decoder=False), tmp_path / "plain", progress=False)
    assert all(torch.equal(v, kept[k]) for k, v in plain.tokenizer.state_dict().items())
    with pytest.raises(ValueError, match="train_decoder is a generator-stage option"):
        train(micro_model(), frames(), dataclasses.replace(config, stage="tokenizer"), tmp_path / "t", progress=False)


def test_decoder_distillation_moves_only_the_decoder_towards_the_teacher(tmp_path):
    """``distill_decoder``: a lighter decoder learns the full one's output on the generator's own predictions;
    nothing outside the decoder side changes, the teacher included."""
    import copy

    from realiisr.training.decoder_distillation import DecoderDistillation
    from realiisr.training.loop import collate_samples
    from realiisr.training.surgery import drop_finest_decoder_levels

    full = micro_model()
    teacher = copy.deepcopy(full.tokenizer)
    torch.manual_seed(1)
    light = realiisr.build("real_iisr_x4_tiny", overrides={**MICRO, "tokenizer.decoder_shuffle_levels": 1})
    start = drop_finest_decoder_levels(full.state_dict(), 1)
    light.load_state_dict(start, strict=False)
    initial = {name: tensor.clone() for name, tensor in light.state_dict().items()}
    data = frames(4)
    batch = collate_samples([data[(0, i)] for i in range(4)])
    distillation = DecoderDistillation(teacher)

    def gap() -> float:
        with torch.no_grad():
            return float(distillation(light, batch["lr"], batch["label"])["distill_mse"])

    before = gap()
    config = TrainConfig(stage="generator", steps=10, batch_size=4, lr=2e-3, warmup_fraction=0.0, log_every=5,
                         val_every=1000, save_every=1000, distill_decoder=True)
    with pytest.raises(ValueError, match="teacher"):
        train(light, data, config, tmp_path / "none", progress=False)
    with pytest.raises(ValueError, match="train_decoder"):
        train(light, data, dataclasses.replace(config, train_decoder=True), tmp_path / "both", teacher=teacher,
              progress=False)
    with pytest.raises(ValueError, match="distill_decoder is a generator-stage option"):
        train(light, data, dataclasses.replace(config, stage="tokenizer"), tmp_path / "tok", teacher=teacher,
              progress=False)
    train(light, data, config, tmp_path / "run", teacher=teacher, progress=False)
    assert gap() < 0.5 * before, (before, gap())
    decoder_side = ("tokenizer.decoder.", "tokenizer.post_quant_conv.", "tokenizer.lr_proj.", "tokenizer.lr_skips.")
    after = light.state_dict()
    for name, tensor in start.items():
        if not name.startswith(decoder_side):
            assert torch.equal(after[name], tensor), name
    assert not torch.equal(after["tokenizer.decoder.conv_out.weight"], initial["tokenizer.decoder.conv_out.weight"])
    assert not torch.equal(after["tokenizer.decoder.up.0.block.0.conv1.weight"],
                           initial["tokenizer.decoder.up.0.block.0.conv1.weight"])  # a kept level adapts too
    for name, tensor in full.tokenizer.state_dict().items():
        assert torch.equal(teacher.state_dict()[name], tensor), name
