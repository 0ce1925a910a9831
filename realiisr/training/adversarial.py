"""Optional tokenizer-stage terms beyond reconstruction: a patch discriminator with the hinge loss (VQGAN's
recipe; trained from scratch, so it needs no weights) and an LPIPS perceptual loss through pyiqa, which is
used only when its weights exist locally — a requested term that cannot load is an error, never a silently
random network."""
from __future__ import annotations

from typing import Any, Callable, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["PatchDiscriminator", "Adversary", "perceptual_loss"]


class PatchDiscriminator(nn.Module):
    """PatchGAN: strided convolutions to a map of real/fake logits (one per ~70-pixel patch at 3 layers)."""

    def __init__(self, in_channels: int = 3, width: int = 64, layers: int = 3) -> None:
        super().__init__()
        blocks: list[nn.Module] = [nn.Conv2d(in_channels, width, 4, 2, 1), nn.LeakyReLU(0.2)]
        channels = width
        for i in range(1, layers + 1):
            out = width * min(2**i, 8)
            stride = 2 if i < layers else 1
            blocks += [nn.Conv2d(channels, out, 4, stride, 1, bias=False), nn.GroupNorm(min(32, out // 4), out),
                       nn.LeakyReLU(0.2)]
            channels = out
        blocks.append(nn.Conv2d(channels, 1, 4, 1, 1))
        self.net = nn.Sequential(*blocks)

    def forward(self, img: Tensor) -> Tensor:
        return self.net(img)


class Adversary:
    """The discriminator, its optimiser and the hinge losses, for images in [-1, 1]."""

    def __init__(self, lr: float, device: torch.device, wrap: Callable[[nn.Module], nn.Module] = lambda m: m,
                 seed: int = 0) -> None:
        with torch.random.fork_rng(devices=[]):  # its own initial weights leave the run's RNG stream alone
            torch.manual_seed(seed)
            self.discriminator = PatchDiscriminator().to(device)
        self.runner = wrap(self.discriminator)
        self.optimizer = torch.optim.Adam(self.discriminator.parameters(), lr=lr, betas=(0.5, 0.9))

    def generator_loss(self, fake: Tensor) -> Tensor:
        """The generator's hinge term: raise the discriminator's score of its images (the unwrapped
        discriminator, frozen for this pass: only the tokenizer learns from it)."""
        self.discriminator.requires_grad_(False)
        try:
            return -self.discriminator(fake).mean()
        finally:
            self.discriminator.requires_grad_(True)

    def step(self, real: Tensor, fake: Tensor) -> float:
        """One discriminator update: ``mean(relu(1 - D(real))) + mean(relu(1 + D(fake)))``."""
        self.optimizer.zero_grad(set_to_none=True)
        loss = F.relu(1 - self.runner(real)).mean() + F.relu(1 + self.runner(fake.detach())).mean()
        loss.backward()
        self.optimizer.step()
        return float(loss.detach())

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.discriminator.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.discriminator.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])


def perceptual_loss(device: torch.device) -> Callable[[Tensor, Tensor], Tensor]:
    """pyiqa's LPIPS as a loss on images in [0, 1]; raises when its weights are not available locally."""
    from realiisr.evaluation.evaluate import load_metrics

    loaded, unavailable = load_metrics(["lpips"], device=str(device), as_loss=True)
    if "lpips" not in loaded:
        raise RuntimeError(f"perceptual_weight > 0 needs LPIPS: {unavailable['lpips']}")
    metric = loaded["lpips"]
    return lambda sr, hr: metric(sr, hr).mean()


def optional_terms(config: Any, device: torch.device, wrap: Callable[[nn.Module], nn.Module]) -> tuple[
        Optional[Adversary], Optional[Callable[[Tensor, Tensor], Tensor]]]:
    """(adversary, perceptual loss) as the tokenizer-stage config asks (None where its weight is 0)."""
    adversary = Adversary(config.lr, device, wrap, seed=config.seed + 2) if config.adversarial_weight > 0 else None
    perceptual = perceptual_loss(device) if config.perceptual_weight > 0 else None
    return adversary, perceptual
