"""LR-conditioned denoising diffusion (DDPM training, DDIM sampling) in pixel space on the grey channel."""
from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from realiisr.core.interfaces import Generator


def _timestep_embedding(t: Tensor, dim: int) -> Tensor:
    half = dim // 2
    freqs = torch.exp(-math.log(10000) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([args.sin(), args.cos()], dim=1)


class _ResBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, t_dim: int) -> None:
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(8, c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.time = nn.Linear(t_dim, c_out)
        self.norm2, self.conv2 = nn.GroupNorm(8, c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x))) + self.time(t)[:, :, None, None]
        return self.skip(x) + self.conv2(F.silu(self.norm2(h)))


class UNet(nn.Module):
    """A small U-Net: input ``[x_t | LR]`` (2 channels), output the predicted noise."""

    def __init__(self, channels: int = 32, mults: Sequence[int] = (1, 2, 4)) -> None:
        super().__init__()
        t_dim = channels * 4
        self.t_dim = channels
        self.time = nn.Sequential(nn.Linear(channels, t_dim), nn.SiLU(), nn.Linear(t_dim, t_dim))
        self.inp = nn.Conv2d(2, channels, 3, padding=1)
        widths = [channels * m for m in mults]
        self.down = nn.ModuleList()
        c = channels
        for w in widths:
            self.down.append(_ResBlock(c, w, t_dim))
            c = w
        self.mid = _ResBlock(c, c, t_dim)
        self.up = nn.ModuleList()
        for w in reversed(widths):
            self.up.append(_ResBlock(c + w, w, t_dim))
            c = w
        self.out = nn.Sequential(nn.GroupNorm(8, c), nn.SiLU(), nn.Conv2d(c, 1, 3, padding=1))

    def forward(self, x: Tensor, lr: Tensor, t: Tensor) -> Tensor:
        temb = self.time(_timestep_embedding(t, self.t_dim))
        h = self.inp(torch.cat([x, lr], dim=1))
        skips = []
        for i, block in enumerate(self.down):
            h = block(h, temb)
            skips.append(h)
            if i < len(self.down) - 1:
                h = F.avg_pool2d(h, 2)
        h = self.mid(h, temb)
        for i, block in enumerate(self.up):
            skip = skips.pop()
            if h.shape[-1] != skip.shape[-1]:
                h = F.interpolate(h, size=skip.shape[-2:], mode="nearest")
            h = block(torch.cat([h, skip], dim=1), temb)
        return self.out(h)


class DiffusionGenerator(Generator):
    """Args:
        channels, mults: U-Net width and per-level multipliers.
        timesteps: diffusion steps of the linear β schedule (1e-4 … 0.02).
        sampling_steps: DDIM steps at inference.
        Other keyword arguments (from a VAR recipe it replaces) are accepted and ignored.
    """

    def __init__(self, channels: int = 32, mults: Sequence[int] = (1, 2, 4), timesteps: int = 1000,
                 sampling_steps: int = 20, **_ignored: object) -> None:
        super().__init__()
        self.unet = UNet(channels, mults)
        self.timesteps, self.sampling_steps = timesteps, sampling_steps
        betas = torch.linspace(1e-4, 0.02, timesteps, dtype=torch.float64)
        self.register_buffer("alpha_bar", torch.cumprod(1 - betas, 0).float(), persistent=False)

    @staticmethod
    def _grey(x: Tensor) -> Tensor:
        return x.mean(dim=1, keepdim=True)

    def model_training_losses(self, model, lr: Tensor, hr: Tensor, labels: Tensor) -> dict[str, Tensor]:
        x0, cond = self._grey(hr), self._grey(lr)
        t = torch.randint(0, self.timesteps, (x0.shape[0],), device=x0.device)
        noise = torch.randn_like(x0)
        a = self.alpha_bar[t].view(-1, 1, 1, 1)
        xt = a.sqrt() * x0 + (1 - a).sqrt() * noise
        eps = self.unet(xt, cond, t)
        out = {"diffusion": F.mse_loss(eps, noise)}
        x0_pred = ((xt - (1 - a).sqrt() * eps) / a.sqrt()).clamp(-1, 1)
        sr, hr01 = ((x0_pred + 1) / 2).expand(-1, 3, -1, -1), (hr + 1) / 2
        for name, loss in model.losses.items():
            out[name] = loss(sr, hr01)
        out["total"] = out["diffusion"] + sum(model.loss_weights.get(n, 0.0) * out[n] for n in model.losses)
        out["sr"] = sr
        return out

    @torch.no_grad()
    def model_sample(self, model, lr: Tensor, labels: Tensor, generator: Optional[torch.Generator] = None) -> Tensor:
        cond = self._grey(lr)
        x = torch.randn(cond.shape, generator=generator, device=cond.device)
        steps = torch.linspace(self.timesteps - 1, 0, self.sampling_steps).round().long().tolist()
        for i, t in enumerate(steps):
            a = self.alpha_bar[t]
            a_next = self.alpha_bar[steps[i + 1]] if i + 1 < len(steps) else torch.tensor(1.0, device=x.device)
            eps = self.unet(x, cond, torch.full((x.shape[0],), t, device=x.device))
            x0 = ((x - (1 - a).sqrt() * eps) / a.sqrt()).clamp(-1, 1)
            x = a_next.sqrt() * x0 + (1 - a_next).sqrt() * eps  # DDIM, eta = 0
        return ((x.clamp(-1, 1) + 1) / 2).expand(-1, 3, -1, -1)
