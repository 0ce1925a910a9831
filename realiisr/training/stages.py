"""What each training stage trains and its loss: the parameters a stage unfreezes and the forward that DDP wraps."""
from __future__ import annotations

from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import nn

from realiisr.model import RealIISR
from realiisr.training.adversarial import Adversary

__all__ = ["StageStep", "prepare_stage"]


def prepare_stage(model: RealIISR, stage: str, train_decoder: bool = False,
                  distill_decoder: bool = False) -> list[torch.nn.Parameter]:
    """Freeze what the stage does not train; returns the parameters it trains."""
    if distill_decoder:
        model.requires_grad_(False)  # the generator, guidance and codes stay exactly the teacher's
        for module in _decoder_modules(model, "distill_decoder"):
            module.requires_grad_(True)
        return [p for p in model.parameters() if p.requires_grad]
    if stage == "tokenizer":
        model.requires_grad_(False)
        model.tokenizer.requires_grad_(True)
        model.codebook.embedding.requires_grad_(True)
        return [p for p in model.parameters() if p.requires_grad]
    if stage == "generator":
        model.tokenizer.requires_grad_(False)
        model.codebook.embedding.requires_grad_(False)
        if train_decoder:
            # the tokens keep their meaning (encoder and codes stay frozen); only how they are drawn adapts
            # to what the generator predicts, which is what the posterior-mean decode shows
            if not model.losses:
                raise ValueError("train_decoder needs pixel losses in the recipe: nothing else reaches the decoder")
            for module in _decoder_modules(model, "train_decoder"):
                module.requires_grad_(True)
        return [p for p in model.parameters() if p.requires_grad]
    raise ValueError(f"stage must be 'tokenizer' or 'generator', got {stage!r}")


def _decoder_modules(model: RealIISR, option: str) -> list[nn.Module]:
    decoder_modules = getattr(model.tokenizer, "decoder_modules", None)
    if decoder_modules is None:
        raise ValueError(f"{option}: tokenizer {type(model.tokenizer).__name__} has no decoder_modules()")
    return decoder_modules()


class StageStep(nn.Module):
    """One stage's loss as a module's forward, so DistributedDataParallel can wrap it."""

    def __init__(self, model: RealIISR, stage: str, config: Optional[Any] = None) -> None:
        super().__init__()
        self.model, self.stage = model, stage
        self.config = config
        self.adversary: Optional[Adversary] = None
        self.perceptual = None
        self.adversarial_on = False
        self.distillation: Optional[nn.Module] = None

    def forward(self, lr: torch.Tensor, hr: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.stage == "tokenizer":
            target = self.model.tokenizer_target(lr, hr)
            recon, vq_loss, counts = self.model.tokenizer.training_forward(target, self.model.codebook, lr)
            rec = F.mse_loss(recon.float(), target) + F.l1_loss(recon.float(), target)
            out = {"recon": rec, "vq": vq_loss, "_counts": counts}
            total = rec + vq_loss
            if self.perceptual is not None or self.adversarial_on:
                image = self.model.compose(recon.float(), lr).clamp(-1, 1)
                if self.perceptual is not None:
                    out["perceptual"] = self.perceptual((image + 1) / 2, (hr + 1) / 2)
                    total = total + self.config.perceptual_weight * out["perceptual"]
                if self.adversarial_on:
                    out["adv_g"] = self.adversary.generator_loss(image)
                    total = total + self.config.adversarial_weight * out["adv_g"]
                    out["_fake"] = image
            out["total"] = total
            return out
        if self.distillation is not None:
            return self.distillation(self.model, lr, labels)
        return self.model(lr, hr, labels)  # forward, so a sharded model's hooks gather its parameters
