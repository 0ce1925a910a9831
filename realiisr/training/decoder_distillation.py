"""Decoder distillation: a lighter decoder learns to decode what a trained model's full decoder decodes.

After :func:`realiisr.training.surgery.drop_finest_decoder_levels` the student shares every weight with its
teacher except the decoder's finest levels, which it replaces by a sub-pixel output. Fine-tuning it on HR targets
moves the whole model away from the trained one (measured: ~0.1 dB lost on the held-out sweep and on the sample
pairs, with or without the lighter decoder). Distillation changes nothing but the decoder side and asks it to
reproduce the teacher's output on the latents inference actually decodes — the posterior means of the
generator's own greedy predictions — so no HR is needed and the generator is left exactly as it was.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from realiisr.model import RealIISR

__all__ = ["DecoderDistillation"]


class DecoderDistillation(nn.Module):
    """The loss of one distillation step: the MSE between the student's and the teacher's decoded detail.

    ``teacher``: the tokenizer of the trained model (frozen here, kept in eval mode)."""

    def __init__(self, teacher: nn.Module) -> None:
        super().__init__()
        self.teacher = teacher.eval().requires_grad_(False)

    def train(self, mode: bool = True) -> "DecoderDistillation":
        super().train(mode)
        self.teacher.eval()  # whatever the loop sets, the teacher decodes as at inference
        return self

    def forward(self, model: RealIISR, lr: Tensor, labels: Tensor) -> dict[str, Tensor]:
        with torch.no_grad():
            was_training = model.training
            model.eval()  # generate as inference does (greedy, no dropout)
            tokens = model.generate(lr, labels, keep_logits=True)
            model.train(was_training)
            latent = model.soft_latent(torch.cat(tokens["logits"], dim=1).float(), tokens["h"])
            target = self.teacher.decode_fhat_unclamped(latent, lr)
        decoded = model.tokenizer.decode_fhat_unclamped(latent, lr)
        mse = F.mse_loss(decoded.float(), target.float())
        return {"distill_mse": mse, "total": mse}
