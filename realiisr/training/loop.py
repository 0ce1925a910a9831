"""The training loop for both stages: ``tokenizer`` (the VQ-VAE) and ``generator`` (VAR + guidance + CAC).

Batches are planned from (seed, step) alone, data augmentation draws from (seed, epoch, index) and the
checkpoint restores model, optimiser, schedule and RNG state, so ``resume`` continues exactly.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler

from realiisr.model import RealIISR
from realiisr.evaluation.metrics import aligned_psnr, psnr, thermal_order_accuracy
from realiisr.training import distributed
from realiisr.training.adversarial import optional_terms
from realiisr.training.logs import RunLogs
from realiisr.training.checkpoint import latest_checkpoint, load_checkpoint, rng_state, save_checkpoint, set_rng_state
from realiisr.training.optim import build_optimizer, lr_factor
from realiisr.training.stages import StageStep, prepare_stage

__all__ = ["TrainConfig", "PlannedBatches", "collate_samples", "train", "validate"]

_LOG = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """Everything that shapes a run; saved with every checkpoint."""

    stage: str = "generator"  # or "tokenizer"
    steps: int = 1000
    batch_size: int = 8
    lr: float = 5e-5
    warmup_fraction: float = 0.05
    flat_fraction: float = 0.3
    weight_decay: float = 0.05
    betas: tuple[float, float] = (0.9, 0.95)
    grad_clip: float = 2.0
    accumulation: int = 1
    log_every: int = 10
    val_every: int = 200
    save_every: int = 200
    keep_last: int = 3
    seed: int = 0
    amp: str = "auto"  # auto: bf16 autocast on CUDA, fp32 on CPU; "bf16", "fp16", "none"
    num_workers: int = 0
    device: str = "auto"
    dead_code_every: int = 100  # tokenizer stage: restart codes unused over this many steps
    val_samples: int = 8
    adversarial_weight: float = 0.0  # tokenizer stage: PatchGAN hinge term on the reconstruction
    adversarial_start: int = 0  # the step from which the discriminator trains and its term applies
    perceptual_weight: float = 0.0  # tokenizer stage: LPIPS through pyiqa (its weights must exist locally)
    train_decoder: bool = False  # generator stage: the pixel losses of the predicted tokens also tune the decoder
    # generator stage: only the decoder side trains, to reproduce a teacher's decoded output on the generator's
    # own predictions (realiisr.training.decoder_distillation; `train(teacher=)`, the CLI's --init model)
    distill_decoder: bool = False
    stop_after: int = 0  # end the run after this step (0: at ``steps``); the schedule still spans ``steps``
    strategy: str = "ddp"  # with torchrun: "ddp", or "fsdp" (FSDP2 fully_shard; generator stage) for big models
    val_images: int = 4  # validation samples drawn into val_images/step-N.png (and TensorBoard)
    tensorboard: bool = True  # TensorBoard events beside the CSV files when tensorboard is installed
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class PlannedBatches(Sampler):
    """Batch ``s`` is a slice of the permutation of epoch ``s // steps_per_epoch`` (seeded by (seed, epoch))."""

    def __init__(self, length: int, batch_size: int, seed: int, start: int, stop: int, rank: int = 0,
                 world: int = 1) -> None:
        self.length, self.batch_size, self.seed, self.start, self.stop = length, batch_size, seed, start, stop
        self.rank, self.world = rank, world
        self.steps_per_epoch = max(1, math.ceil(length / batch_size))

    def batch(self, step: int) -> list[tuple[int, int]]:
        epoch, k = divmod(step, self.steps_per_epoch)
        generator = torch.Generator().manual_seed(self.seed * 7919 + epoch)
        need = self.steps_per_epoch * self.batch_size
        order = torch.cat([torch.randperm(self.length, generator=generator) for _ in range(-(-need // self.length))])
        return [(epoch, int(i)) for i in order[k * self.batch_size : (k + 1) * self.batch_size]]

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        share = self.batch_size // self.world
        for step in range(self.start, self.stop):
            yield self.batch(step)[self.rank * share : (self.rank + 1) * share]

    def __len__(self) -> int:
        return self.stop - self.start


def collate_samples(items: Sequence[dict]) -> dict[str, Any]:
    return {
        "lr": torch.stack([i["lr"] for i in items]),
        "hr": torch.stack([i["hr"] for i in items]),
        "label": torch.tensor([i["label"] for i in items], dtype=torch.long),
        "name": [i["name"] for i in items],
    }


def _autocast(config: TrainConfig, device: torch.device):
    mode = config.amp if config.amp != "auto" else ("bf16" if device.type == "cuda" else "none")
    if mode == "none":
        return torch.autocast(device.type, enabled=False)
    return torch.autocast(device.type, dtype=torch.bfloat16 if mode == "bf16" else torch.float16)


class _DeadCodes:
    """Counts code usage; codes unused over a window restart at random quantiser inputs of the batch (the
    vectors the residual quantiser compared with the codebook, all scales). Before a fresh run's first step
    every code is unused, so the codebook starts on the data: a codebook far from the latents sends every vector
    to one code, the decoder then sees a constant and the stage collapses (seen: 1 code per scale after 400
    steps, reconstruction equal to the zero detail)."""

    def __init__(self, vocab: int, device: torch.device) -> None:
        self.counts = torch.zeros(vocab, device=device)
        self.restarted = 0

    def restart(self, model: RealIISR, target: torch.Tensor, generator: torch.Generator, ctx: distributed.DistContext) -> int:
        ctx.all_sum_(self.counts)
        dead = (self.counts == 0).nonzero().flatten()
        if len(dead):
            with torch.no_grad():
                latents = model.tokenizer.quantizer_inputs(target, model.codebook)
                pick = torch.randint(len(latents), (len(dead),), generator=generator)
                model.codebook.embedding.weight[dead] = latents[pick.to(latents.device)].to(model.codebook.embedding.weight.dtype)
            ctx.broadcast_(model.codebook.embedding.weight.data)  # rank 0's restart everywhere
        self.counts.zero_()
        self.restarted += len(dead)
        return len(dead)


_SSIM: dict[str, Any] = {}


def _ssim(sr: torch.Tensor, hr: torch.Tensor) -> Optional[float]:
    """pyiqa's SSIM on the grey channel (loaded once per process; None without pyiqa)."""
    if "metric" not in _SSIM:
        from realiisr.evaluation.evaluate import load_metrics

        loaded, _ = load_metrics(["ssim"])
        _SSIM["metric"] = loaded.get("ssim")
    metric = _SSIM["metric"]
    if metric is None:
        return None
    grey = lambda x: x.float().mean(dim=1, keepdim=True).clamp(0, 1).cpu()  # noqa: E731
    return float(metric(grey(sr), grey(hr)).mean())


@torch.no_grad()
def validate(model: RealIISR, data: Dataset, config: TrainConfig, device: torch.device,
             images: Optional[dict[str, torch.Tensor]] = None) -> dict[str, float]:
    """Tokenizer: reconstruction PSNR. Generator: teacher-forced losses, and PSNR, SSIM and thermal-order
    accuracy of the autoregressive output (PSNR and order accuracy also for bicubic). A dict passed as
    ``images`` receives the first ``config.val_images`` LR / output / HR images for the grids."""
    was_training = model.training
    model.eval()
    count = min(len(data), config.val_samples)
    batch = collate_samples([data[(0, i)] for i in range(count)])
    lr, hr, labels = batch["lr"].to(device), batch["hr"].to(device), batch["label"].to(device)
    hr01, lr01 = (hr + 1) / 2, (lr + 1) / 2
    if config.stage == "tokenizer":
        recon = (model.compose(model.tokenizer(model.tokenizer_target(lr, hr), model.codebook, lr), lr) + 1) / 2
        metrics = {"val_psnr": float(psnr(recon, hr01).mean()), "val_psnr_bicubic": float(psnr(lr01, hr01).mean()),
                   "val_psnr_aligned": float(aligned_psnr(recon, hr01).mean()),
                   "val_psnr_aligned_bicubic": float(aligned_psnr(lr01, hr01).mean())}
        out = recon
    else:
        losses = model(lr, hr, labels)  # forward: the training losses (through a sharded model's hooks)
        sr = model.sample(lr, labels)
        metrics = {f"val_{k}": float(v) for k, v in losses.items() if v.dim() == 0}
        metrics.update({
            "val_psnr": float(psnr(sr, hr01).mean()), "val_psnr_bicubic": float(psnr(lr01, hr01).mean()),
            "val_psnr_aligned": float(aligned_psnr(sr, hr01).mean()),
            "val_psnr_aligned_bicubic": float(aligned_psnr(lr01, hr01).mean()),
            "val_order_acc": float(thermal_order_accuracy(sr, hr01).mean()),
            "val_order_acc_bicubic": float(thermal_order_accuracy(lr01, hr01).mean()),
        })
        ssim = _ssim(sr, hr01)
        if ssim is not None:
            metrics["val_ssim"] = ssim
        out = sr
    if images is not None:
        keep = slice(0, config.val_images)
        images.update({"LR (bicubic)": lr01[keep], config.stage: out[keep], "HR": hr01[keep]})
    model.train(was_training)
    return metrics


def train(
    model: RealIISR, train_data: Dataset, config: TrainConfig, out_dir: Path, *, val_data: Optional[Dataset] = None,
    resume: bool = False, progress: bool = True, teacher: Optional[nn.Module] = None,
) -> dict[str, float]:
    """Run (or continue) a training stage; returns the last logged metrics.

    ``teacher``: with ``distill_decoder``, the tokenizer whose decoded output the model's decoder learns."""
    out_dir = Path(out_dir)
    ctx = distributed.setup(config.device)
    device = ctx.device
    progress = progress and ctx.is_main
    torch.manual_seed(config.seed)
    model.to(device).train()
    flags = {name: p.requires_grad for name, p in model.named_parameters()}
    if config.strategy not in ("ddp", "fsdp"):
        raise ValueError(f"strategy must be 'ddp' or 'fsdp', got {config.strategy!r}")
    if config.stage != "tokenizer" and (config.adversarial_weight > 0 or config.perceptual_weight > 0):
        raise ValueError("adversarial_weight and perceptual_weight are tokenizer-stage terms")
    if config.strategy == "fsdp" and config.stage != "generator":
        raise ValueError("strategy='fsdp' shards the generator stage; train the tokenizer with 'ddp'")
    if config.train_decoder and config.stage != "generator":
        raise ValueError("train_decoder is a generator-stage option (the tokenizer stage trains the decoder anyway)")
    if config.distill_decoder and config.stage != "generator":
        raise ValueError("distill_decoder is a generator-stage option")
    if config.distill_decoder and teacher is None:
        raise ValueError("distill_decoder needs the teacher's tokenizer (train(teacher=); the CLI's --init model)")
    if config.distill_decoder and config.train_decoder:
        raise ValueError("distill_decoder trains the decoder on the teacher's output; train_decoder (on the HR) "
                         "cannot be combined with it")
    params = prepare_stage(model, config.stage, config.train_decoder, config.distill_decoder)
    folder = latest_checkpoint(out_dir) if resume else None
    state = load_checkpoint(folder, model) if folder is not None else None  # full weights, before sharding
    if config.strategy == "fsdp":
        ctx.shard(model)
        params = [p for p in model.parameters() if p.requires_grad]
    optimizer = build_optimizer(model, config.lr, config.weight_decay, config.betas, fused=False if ctx.sharded else None)
    warmup = int(config.warmup_fraction * config.steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, config.steps, warmup, config.flat_fraction)
    )
    start, best = 0, None
    if state is not None:
        saved_strategy = "fsdp" if state.get("sharded") else "ddp"
        if saved_strategy != ("fsdp" if ctx.sharded else "ddp"):
            raise ValueError(f"checkpoint {str(folder)!r} was written by a {saved_strategy} run; resume it the same way")
        if ctx.sharded:
            ctx.load_optimizer_state(model, optimizer, state["optimizer"])
        else:
            optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        set_rng_state(state["rng"])
        start, best = int(state["step"]), state.get("best")
        _LOG.info("resumed from %s at step %d", folder, start)
    stop = min(config.steps, config.stop_after) if config.stop_after > 0 else config.steps
    if start >= stop:
        return {}
    planner = PlannedBatches(len(train_data), config.batch_size * config.accumulation * ctx.world, config.seed, start,
                             stop, ctx.rank, ctx.world)
    stage_step = StageStep(model, config.stage, config)
    if config.distill_decoder:
        from realiisr.training.decoder_distillation import DecoderDistillation

        stage_step.distillation = DecoderDistillation(teacher.to(device))
    runner = ctx.wrap(stage_step)
    stage_step.adversary, stage_step.perceptual = optional_terms(config, device, ctx.wrap)
    if stage_step.adversary is not None and state is not None and "adversary" in state:
        stage_step.adversary.load_state_dict(state["adversary"])
    loader = DataLoader(train_data, batch_sampler=planner, num_workers=config.num_workers, collate_fn=collate_samples,
                        pin_memory=device.type == "cuda")
    dead = _DeadCodes(model.codebook.vocab_size, device) if config.stage == "tokenizer" else None
    restart_rng = torch.Generator().manual_seed(config.seed + 1)
    out_dir.mkdir(parents=True, exist_ok=True)
    logs = RunLogs(out_dir, tensorboard=config.tensorboard and ctx.is_main)
    last: dict[str, float] = {}
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=stop, initial=start, desc=f"train {config.stage}", dynamic_ncols=True)
    tick = time.perf_counter()
    try:
        for step, batch in enumerate(loader, start=start):
            if dead is not None and step == 0:
                dead.restart(model, model.tokenizer_target(batch["lr"].to(device), batch["hr"].to(device)),
                             restart_rng, ctx)
            lr, hr, labels = batch["lr"].to(device), batch["hr"].to(device), batch["label"].to(device)
            optimizer.zero_grad(set_to_none=True)
            terms: dict[str, float] = {}
            stage_step.adversarial_on = stage_step.adversary is not None and step >= config.adversarial_start
            for chunk in range(config.accumulation):
                part = slice(chunk * config.batch_size, (chunk + 1) * config.batch_size)
                with _autocast(config, device):
                    out = runner(lr[part], hr[part], labels[part])
                if dead is not None:
                    dead.counts += out.pop("_counts")
                fake = out.pop("_fake", None)
                (out["total"] / config.accumulation).backward()
                if fake is not None:  # after the backward, which still needs the discriminator as it was
                    out["adv_d"] = torch.tensor(stage_step.adversary.step(hr[part], fake))
                for key, value in out.items():
                    if torch.is_tensor(value) and value.dim() == 0:
                        terms[key] = terms.get(key, 0.0) + float(value.detach()) / config.accumulation
            terms = ctx.mean(terms)
            grad_norm = torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
            if hasattr(grad_norm, "full_tensor"):  # a DTensor under FSDP
                grad_norm = grad_norm.full_tensor()
            optimizer.step()
            scheduler.step()
            done = step + 1
            if dead is not None and done % config.dead_code_every == 0:
                terms["dead_codes"] = dead.restart(model, model.tokenizer_target(lr, hr), restart_rng, ctx)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{terms['total']:.4f}", lr=f"{scheduler.get_last_lr()[0]:.2e}")
            metrics: dict[str, float] = {}
            if done % config.log_every == 0 or done == stop:
                now = time.perf_counter()
                rate = config.log_every / max(now - tick, 1e-9)
                metrics = {"step": done, "lr": scheduler.get_last_lr()[0], "grad_norm": float(grad_norm),
                           "steps_per_s": rate, "samples_per_s": rate * config.batch_size * config.accumulation * ctx.world,
                           **terms}
                tick = now
            if val_data is not None and (done % config.val_every == 0 or done == stop):
                panels: dict[str, torch.Tensor] = {}
                if ctx.is_main or ctx.sharded:  # a sharded model validates on every rank (collectives)
                    val_metrics = validate(model, val_data, config, device, panels)
                    metrics = {"step": done, **metrics, **val_metrics}
                if ctx.is_main and config.val_images > 0:
                    logs.images(done, panels)
            if metrics and ctx.is_main:
                logs.write("validation" if any(k.startswith("val_") for k in metrics) else "train", metrics)
                last = metrics
            if done % config.save_every == 0 or done == stop:
                weights, optim_state = ctx.full_state(model, optimizer) if ctx.sharded else (None, optimizer.state_dict())
                if not ctx.is_main:
                    continue
                score = last.get("val_psnr_aligned", last.get("val_psnr"))
                is_best = score is not None and (best is None or score > best)
                best = score if is_best else best
                state = {"step": done, "optimizer": optim_state, "scheduler": scheduler.state_dict(),
                         "rng": rng_state(), "config": config.to_dict(), "best": best, "sharded": ctx.sharded}
                if stage_step.adversary is not None:
                    state["adversary"] = stage_step.adversary.state_dict()
                save_checkpoint(out_dir, done, model, state, keep_last=config.keep_last, best=is_best, weights=weights)
        ctx.check_consistency(model, out_dir)
    finally:
        ctx.close()
        logs.close()
        if bar is not None:
            bar.close()
        for name, p in model.named_parameters():  # the stage's freezing is not left behind
            p.requires_grad_(flags[name])
    return last
