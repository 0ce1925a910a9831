"""Convolutional encoder/decoder of the multi-scale VQ-VAE (the LDM/taming design used by VAR and Real-IISR).

Module names follow the widespread LDM layout (``down.i.block.j``, ``mid.attn_1``, ``up.i.upsample``) so
reference checkpoints map onto them one to one.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from realiisr.layers import add_residual, norm_silu
from realiisr.ops import grad_will_flow

__all__ = ["Encoder", "Decoder"]


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(num_groups=32, num_channels=channels, eps=1e-6, affine=True)


class ResnetBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm1 = _norm(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm2 = _norm(out_channels)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.nin_shortcut = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv1(norm_silu(self.norm1, x))
        h = self.conv2(self.dropout(norm_silu(self.norm2, h, fresh=True)))
        return add_residual(self.nin_shortcut(x), h)


class AttnBlock(nn.Module):
    """Single-head spatial self-attention with a fused 1×1 qkv projection and a residual."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = _norm(channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, c, h * w).unbind(1)
        out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        return x + self.proj_out(out.transpose(1, 2).reshape(b, c, h, w))


class _Level(nn.Module):
    """One resolution level: residual blocks, optional attention after each, optional resampling."""

    def __init__(self, blocks: list[nn.Module], attn: list[nn.Module]) -> None:
        super().__init__()
        self.block = nn.ModuleList(blocks)
        self.attn = nn.ModuleList(attn)

    def run(self, h: Tensor) -> Tensor:
        for i, block in enumerate(self.block):
            h = block(h)
            if len(self.attn):
                h = self.attn[i](h)
        return h


class _Middle(nn.Module):
    def __init__(self, channels: int, dropout: float) -> None:
        super().__init__()
        self.block_1 = ResnetBlock(channels, channels, dropout)
        self.attn_1 = AttnBlock(channels)
        self.block_2 = ResnetBlock(channels, channels, dropout)

    def forward(self, h: Tensor) -> Tensor:
        return self.block_2(self.attn_1(self.block_1(h)))


class Downsample2x(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1)))  # asymmetric padding, as LDM


def _phase_taps(w: Tensor, dim: int) -> tuple[Tensor, Tensor]:
    """Along ``dim`` of a 3-tap kernel: the 2-tap kernels that a nearest-upsampled signal's even and odd outputs
    apply to the low-resolution signal (even: rows i-1, i; odd: rows i, i+1)."""
    t0, t1, t2 = w.unbind(dim)
    return torch.stack([t0, t1 + t2], dim), torch.stack([t0 + t1, t2], dim)


class Upsample2x(nn.Module):
    """Nearest 2x upsampling followed by a 3x3 convolution.

    In inference the same result comes from the low-resolution input directly: each of the four output phases
    (even/odd row, even/odd column) is a 2x2 convolution of it with summed taps. One convolution with 4x the
    output channels computes all four, with 16 instead of 36 multiply-adds per output value and no upsampled
    copy of the input; its results differ from the upsampled form only by rounding.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)
        self._phase_cache: tuple = ((), None, None)

    def _phase_weights(self) -> tuple[Tensor, Tensor]:
        weight, bias = self.conv.weight, self.conv.bias
        key = (weight.data_ptr(), weight._version, weight.dtype, weight.device,
               None if bias is None else (bias.data_ptr(), bias._version))
        if self._phase_cache[0] != key:
            even, odd = _phase_taps(weight, 2)
            phases = [rows_w for rows in (even, odd) for rows_w in _phase_taps(rows, 3)]  # (a, b) = 00, 01, 10, 11
            self._phase_cache = (key, torch.cat(phases, 0).contiguous(), None if bias is None else bias.repeat(4))
        return self._phase_cache[1], self._phase_cache[2]

    def forward(self, x: Tensor) -> Tensor:
        if grad_will_flow(x, self.conv.weight, self.conv.bias):
            return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))
        with torch.no_grad():
            weight, bias = self._phase_weights()
            batch, _, height, width = x.shape
            out_channels = self.conv.out_channels
            y = F.conv2d(F.pad(x, (1, 1, 1, 1)), weight, bias)  # [B, 4 Co, H + 1, W + 1]
            out = torch.empty((batch, out_channels, 2 * height, 2 * width), dtype=y.dtype, device=y.device,
                              memory_format=_layout_of(y))
            grid = out.unflatten(3, (width, 2)).unflatten(2, (height, 2))  # [B, Co, H, 2, W, 2] view
            for phase, (a, b) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
                grid[:, :, :, a, :, b] = y[:, phase * out_channels:(phase + 1) * out_channels, a:a + height, b:b + width]
            return out


def _layout_of(x: Tensor) -> torch.memory_format:
    return torch.channels_last if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) \
        and not x.is_contiguous() else torch.contiguous_format


class Encoder(nn.Module):
    """Image ``[B, in, H, W]`` → latent ``[B, z, H / 2^(levels-1), W / 2^(levels-1)]``; attention at the last level."""

    def __init__(
        self, *, ch: int, ch_mult: Sequence[int], num_res_blocks: int, z_channels: int,
        in_channels: int = 3, dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.conv_in = nn.Conv2d(in_channels, ch, 3, padding=1)
        self.down = nn.ModuleList()
        block_in = ch
        for level, mult in enumerate(ch_mult):
            block_out = ch * mult
            last = level == len(ch_mult) - 1
            blocks = [ResnetBlock(block_in if i == 0 else block_out, block_out, dropout) for i in range(num_res_blocks)]
            attn = [AttnBlock(block_out) for _ in range(num_res_blocks)] if last else []
            stage = _Level(blocks, attn)
            if not last:
                stage.downsample = Downsample2x(block_out)
            self.down.append(stage)
            block_in = block_out
        self.mid = _Middle(block_in, dropout)
        self.norm_out = _norm(block_in)
        self.conv_out = nn.Conv2d(block_in, z_channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv_in(x)
        for stage in self.down:
            h = stage.run(h)
            if hasattr(stage, "downsample"):
                h = stage.downsample(h)
        return self.conv_out(norm_silu(self.norm_out, self.mid(h), fresh=True))


class Decoder(nn.Module):
    """Latent → image; ``up[i]`` is stored at its resolution index and run from the coarsest level up.

    ``shuffle_levels``: the finest ``n`` levels are not built; the last level kept predicts ``4**n`` sub-pixel
    values per pixel, arranged by a pixel shuffle (the full-resolution levels are most of a decoder's time).
    ``up[i]`` is then resolution level ``i + n``."""

    def __init__(
        self, *, ch: int, ch_mult: Sequence[int], num_res_blocks: int, z_channels: int,
        out_channels: int = 3, dropout: float = 0.0, shuffle_levels: int = 0,
    ) -> None:
        super().__init__()
        if not 0 <= shuffle_levels < len(ch_mult):
            raise ValueError(f"decoder: shuffle_levels must be in [0, {len(ch_mult) - 1}], got {shuffle_levels}")
        self.shuffle_levels = shuffle_levels
        block_in = ch * ch_mult[-1]
        self.conv_in = nn.Conv2d(z_channels, block_in, 3, padding=1)
        self.mid = _Middle(block_in, dropout)
        stages: list[_Level] = []
        for level in reversed(range(shuffle_levels, len(ch_mult))):
            block_out = ch * ch_mult[level]
            blocks = [ResnetBlock(block_in if i == 0 else block_out, block_out, dropout) for i in range(num_res_blocks)]
            attn = [AttnBlock(block_out) for _ in range(num_res_blocks)] if level == len(ch_mult) - 1 else []
            stage = _Level(blocks, attn)
            if level != shuffle_levels:
                stage.upsample = Upsample2x(block_out)
            stages.insert(0, stage)
            block_in = block_out
        self.up = nn.ModuleList(stages)
        self.norm_out = _norm(block_in)
        self.conv_out = nn.Conv2d(block_in, out_channels * 4**shuffle_levels, 3, padding=1)

    def stage_in_channels(self) -> list[int]:
        """Channels entering ``up[i].run`` for each level ``i`` (finest first)."""
        return [stage.block[0].conv1.in_channels for stage in self.up]

    def forward(self, z: Tensor, skips: Optional[Sequence[Optional[Tensor]]] = None) -> Tensor:
        """``skips[i]``, where given, is added to the features entering ``up[i]`` (at that level's size)."""
        h = self.mid(self.conv_in(z))
        for level in reversed(range(len(self.up))):
            stage = self.up[level]
            if skips is not None and skips[level] is not None:
                h = h + skips[level].to(h.dtype)
            h = stage.run(h)
            if hasattr(stage, "upsample"):
                h = stage.upsample(h)
        out = self.conv_out(norm_silu(self.norm_out, h, fresh=True))
        return F.pixel_shuffle(out, 2**self.shuffle_levels) if self.shuffle_levels else out
