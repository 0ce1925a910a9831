"""Multi-scale residual VQ-VAE tokenizer (VAR's, as Real-IISR uses it).

An image is encoded to a latent ``f`` of ``patch_nums[-1]²`` positions; scale ``k`` quantises the
area-downsampled residual to a ``pn_k × pn_k`` token map, whose code vectors are bicubic-upsampled back,
refined by a partially shared Φ convolution and subtracted from the residual. The codebook is a separate
component (``vq`` or ``cac``) passed to every method that needs code vectors.

Reference behaviours kept behind named options (defaults reproduce the reference):
    ``tokenize_phi_last_scale=False`` — tokenisation skips Φ at the last scale (decoding applies it).
    ``ar_phi_last_scale=False`` — the autoregressive helper adds the last scale's codes without Φ
        (the final image is decoded from the indices again, with Φ).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from realiisr.core.interfaces import Codebook, Tokenizer
from realiisr.core.registries import TOKENIZERS
from realiisr.scales import REFERENCE_PATCH_NUMS
from realiisr.tokenizers.vae_blocks import Decoder, Encoder

__all__ = ["MultiScaleVQVAE", "Tokenization", "phi_index_per_scale"]


def phi_index_per_scale(num_scales: int, num_phis: int) -> list[int]:
    """Which Φ each scale uses: the tick nearest to ``k / (num_scales - 1)``.

    Ticks are ``linspace(1/(3K), 1 - 1/(3K), K)`` for K = 4 and ``linspace(1/(2K), 1 - 1/(2K), K)``
    otherwise (the reference's rule; (6 scales, 4 Φ) gives [0, 0, 1, 2, 3, 3]).
    """
    k = num_phis
    lo = 1 / (3 * k) if k == 4 else 1 / (2 * k)
    ticks = [lo + (1 - 2 * lo) * i / (k - 1) for i in range(k)] if k > 1 else [lo]
    out = []
    for si in range(num_scales):
        at = si / (num_scales - 1) if num_scales > 1 else 0.0
        out.append(min(range(k), key=lambda i: abs(ticks[i] - at)))
    return out


class Phi(nn.Conv2d):
    """``Φ(h) = (1 - r)·h + r·conv3×3(h)``."""

    def __init__(self, channels: int, ratio: float) -> None:
        super().__init__(channels, channels, 3, padding=1)
        self.ratio = abs(ratio)

    def forward(self, h: Tensor) -> Tensor:
        return h * (1 - self.ratio) + super().forward(h) * self.ratio


@dataclass
class Tokenization:
    """Result of :meth:`MultiScaleVQVAE.tokenize`."""

    indices: list[Tensor]  # per scale, [B, pn²] int64
    fhat: list[Tensor]  # cumulative reconstruction after each scale, [B, C, H, W]
    last_residual: Tensor  # residual before the last scale, [B, pn_last², C]

    @property
    def flat(self) -> Tensor:
        return torch.cat(self.indices, dim=1)


@TOKENIZERS.register(name="multiscale_vqvae", aliases=("msvq",))
class MultiScaleVQVAE(Tokenizer):
    """The frozen VQ-VAE of Real-IISR (16× down-sampling for five ``ch_mult`` levels).

    Args:
        z_channels: latent / code vector width (``Cvae``).
        ch, ch_mult, num_res_blocks_encoder, num_res_blocks_decoder: the convolutional trunk.
        quant_conv_ks: kernel of the convolutions around the quantiser.
        quant_resi: Φ's residual ratio ``r`` (0 disables Φ).
        share_quant_resi: number of Φ convolutions shared across scales (0: one per scale).
        patch_nums: token-map sides, coarse to fine; the last equals the latent side.
        beta: commitment weight, used when the tokenizer itself is trained.
        frozen: parameters do not require gradients (the reference fine-tunes with a frozen tokenizer).
        lr_condition: ``"none"`` (the reference) decodes from the tokens alone; ``"unshuffle"`` also feeds the
            decoder the LR image (at the output size, pixel-unshuffled to the latent grid and projected by a
            3×3 conv onto the latent), so the tokens need carry only what the LR does not show — the decoder
            conditioning of LR-guided VQ super-resolution (cf. StableSR's feature wrapping, CodeFormer's CFT).
            ``"pyramid"`` does that and also adds the LR, unshuffled to each finer decoder level and projected by
            a zero-initialised 3×3 conv, to the features entering that level: the decoder sees the LR at full
            resolution, where deblurring happens, and a ``"unshuffle"`` checkpoint loads into it unchanged in
            function (the new convs start at zero).
        zero_init_output: start the decoder's output convolution at zero, so a tokenizer that decodes a
            residual (the model's ``output_base="lr"``) starts as the identity on the LR instead of adding noise.
        decoder_shuffle_levels: the decoder's finest levels left out; its last level predicts the missing
            resolution as sub-pixel values (pixel shuffle): a lighter decoder (:class:`Decoder`).
    """

    def __init__(
        self,
        *,
        z_channels: int = 32,
        ch: int = 160,
        ch_mult: Sequence[int] = (1, 1, 2, 2, 4),
        num_res_blocks_encoder: int = 2,
        num_res_blocks_decoder: int = 3,
        quant_conv_ks: int = 3,
        quant_resi: float = 0.5,
        share_quant_resi: int = 4,
        patch_nums: Sequence[int] = REFERENCE_PATCH_NUMS,
        beta: float = 0.25,
        in_channels: int = 3,
        dropout: float = 0.0,
        frozen: bool = True,
        tokenize_phi_last_scale: bool = False,
        ar_phi_last_scale: bool = False,
        lr_condition: str = "none",
        zero_init_output: bool = False,
        decoder_shuffle_levels: int = 0,
    ) -> None:
        super().__init__()
        self.z_channels = z_channels
        self.patch_nums = tuple(int(p) for p in patch_nums)
        self.downsample = 2 ** (len(ch_mult) - 1)
        self.beta = beta
        self.tokenize_phi_last_scale = tokenize_phi_last_scale
        self.ar_phi_last_scale = ar_phi_last_scale
        self.encoder = Encoder(ch=ch, ch_mult=ch_mult, num_res_blocks=num_res_blocks_encoder,
                               z_channels=z_channels, in_channels=in_channels, dropout=dropout)
        self.decoder = Decoder(ch=ch, ch_mult=ch_mult, num_res_blocks=num_res_blocks_decoder,
                               z_channels=z_channels, out_channels=in_channels, dropout=dropout,
                               shuffle_levels=decoder_shuffle_levels)
        self.quant_conv = nn.Conv2d(z_channels, z_channels, quant_conv_ks, padding=quant_conv_ks // 2)
        self.post_quant_conv = nn.Conv2d(z_channels, z_channels, quant_conv_ks, padding=quant_conv_ks // 2)
        num_phis = share_quant_resi if share_quant_resi > 0 else len(self.patch_nums)
        self.phis = nn.ModuleList(
            Phi(z_channels, quant_resi) if abs(quant_resi) > 1e-6 else nn.Identity() for _ in range(num_phis)
        )
        self._phi_index = phi_index_per_scale(len(self.patch_nums), num_phis)
        if lr_condition not in ("none", "unshuffle", "pyramid"):
            raise ValueError(f"multiscale_vqvae: lr_condition must be 'none', 'unshuffle' or 'pyramid', got {lr_condition!r}")
        self.lr_condition = lr_condition
        if lr_condition in ("unshuffle", "pyramid"):
            self.lr_proj = nn.Conv2d(in_channels * self.downsample**2, z_channels, 3, padding=1)
        if lr_condition == "pyramid":
            # every level but the coarsest, which the latent projection already feeds
            widths = self.decoder.stage_in_channels()[:-1]
            first = decoder_shuffle_levels
            self.lr_skips = nn.ModuleList(nn.Conv2d(in_channels * 4 ** (i + first), width, 3, padding=1)
                                          for i, width in enumerate(widths))
            for conv in self.lr_skips:
                nn.init.zeros_(conv.weight)
                nn.init.zeros_(conv.bias)
        if zero_init_output:
            nn.init.zeros_(self.decoder.conv_out.weight)
            nn.init.zeros_(self.decoder.conv_out.bias)
        if frozen:
            self.requires_grad_(False)

    @property
    def image_size(self) -> int:
        return self.patch_nums[-1] * self.downsample

    @property
    def num_tokens(self) -> int:
        return sum(p * p for p in self.patch_nums)

    def phi(self, scale: int, h: Tensor) -> Tensor:
        return self.phis[self._phi_index[scale]](h)

    def decoder_modules(self) -> list[nn.Module]:
        """The modules between a latent and the image (the LR projection included); the encoder, the
        quantiser's residual convs and the codebook, which fix what the tokens mean, are not among them."""
        mods: list[nn.Module] = [self.post_quant_conv, self.decoder]
        if self.lr_condition != "none":
            mods.append(self.lr_proj)
        if self.lr_condition == "pyramid":
            mods.append(self.lr_skips)
        return mods

    # ------------------------------------------------------------------ image → tokens
    def encode(self, img: Tensor) -> Tensor:
        """``[B, 3, H, W]`` in [-1, 1] → latent ``[B, Cvae, H/16, W/16]``."""
        return self.quant_conv(self.encoder(img))

    @staticmethod
    def nearest(z: Tensor, weight: Tensor) -> Tensor:
        """Index of the nearest code vector (squared L2) for each row of ``z [N, C]``."""
        dist = (z * z).sum(1, keepdim=True) + (weight * weight).sum(1)
        dist = torch.addmm(dist, z, weight.t(), alpha=-2, beta=1)
        return dist.argmin(dim=1)

    @torch.no_grad()
    def tokenize(self, img: Tensor, codebook: Codebook) -> Tokenization:
        """Residual quantisation of ``img`` against the plain (unconditioned) codebook."""
        f = self.encode(img).float()
        b, c, hgt, wid = f.shape
        if (hgt, wid) != (self.patch_nums[-1],) * 2:
            raise ValueError(
                f"tokenize: a {img.shape[-2]}x{img.shape[-1]} image gives a {hgt}x{wid} latent, but patch_nums ends "
                f"at {self.patch_nums[-1]} (images must be {self.image_size}x{self.image_size})"
            )
        indices, fhats, last_residual, _ = self._residual_quantize(f, codebook.weight.float())
        return Tokenization(indices, fhats, last_residual)

    def _residual_quantize(self, f: Tensor, weight: Tensor) -> tuple[list[Tensor], list[Tensor], Tensor, list[Tensor]]:
        """(indices, f̂ after each scale, last residual ``[B, N, C]``, the rows each scale quantised)."""
        b, c, hgt, wid = f.shape
        rest, fhat = f.clone(), torch.zeros_like(f)
        indices, fhats, inputs, last = [], [], [], len(self.patch_nums) - 1
        last_residual = rest
        for si, pn in enumerate(self.patch_nums):
            z = rest if si == last else F.interpolate(rest, size=(pn, pn), mode="area")
            rows = z.permute(0, 2, 3, 1).reshape(-1, c)
            idx = self.nearest(rows, weight).view(b, pn * pn)
            h = weight[idx].transpose(1, 2).reshape(b, c, pn, pn)
            if si != last:
                h = self.phi(si, F.interpolate(h, size=(hgt, wid), mode="bicubic"))
            else:
                last_residual = rest.clone()
                if self.tokenize_phi_last_scale:
                    h = self.phi(si, h)
            fhat = fhat + h
            rest = rest - h
            indices.append(idx)
            fhats.append(fhat.clone())
            inputs.append(rows)
        return indices, fhats, last_residual.permute(0, 2, 3, 1).reshape(b, -1, c), inputs

    @torch.no_grad()
    def quantizer_inputs(self, img: Tensor, codebook: Codebook) -> Tensor:
        """``[N, C]``: every vector the residual quantiser compares with the codebook for ``img``, all scales —
        where a dead code is best restarted (raw encoder latents are far larger than the later residuals)."""
        f = self.encode(img).float()
        return torch.cat(self._residual_quantize(f, codebook.weight.float())[3])

    # ------------------------------------------------------------------ tokens → generator input
    def teacher_forcing_input(self, indices: Sequence[Tensor], codebook: Codebook) -> Tensor:
        """``[B, L - 1, Cvae]``: the area-downsampled running reconstruction fed as the next scale's input."""
        b, side = indices[0].shape[0], self.patch_nums[-1]
        fhat = torch.zeros(b, self.z_channels, side, side, device=indices[0].device)
        out = []
        for si in range(len(self.patch_nums) - 1):
            pn = self.patch_nums[si]
            h = codebook.embed(indices[si]).float().transpose(1, 2).reshape(b, -1, pn, pn)
            fhat = fhat + self.phi(si, F.interpolate(h, size=(side, side), mode="bicubic"))
            nxt = self.patch_nums[si + 1]
            out.append(F.interpolate(fhat, size=(nxt, nxt), mode="area").flatten(2).transpose(1, 2))
        return torch.cat(out, dim=1)

    def next_ar_input(self, si: int, fhat: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        """One autoregressive step: add scale ``si``'s code map ``h [B, C, pn, pn]``; return (fhat, next input)."""
        side = self.patch_nums[-1]
        if si != len(self.patch_nums) - 1:
            fhat = fhat + self.phi(si, F.interpolate(h, size=(side, side), mode="bicubic"))
            nxt = self.patch_nums[si + 1]
            return fhat, F.interpolate(fhat, size=(nxt, nxt), mode="area")
        fhat = fhat + (self.phi(si, h) if self.ar_phi_last_scale else h)
        return fhat, fhat

    # ------------------------------------------------------------------ tokens → image
    def embeddings_to_fhat(self, maps: Sequence[Tensor]) -> Tensor:
        """Sum of Φ(upsampled code maps) over all scales (Φ at every scale, as the reference decodes)."""
        side = self.patch_nums[-1]
        fhat = None
        for si, h in enumerate(maps):
            if h.shape[-1] != side:
                h = F.interpolate(h, size=(side, side), mode="bicubic")
            h = self.phi(si, h)
            fhat = h if fhat is None else fhat + h
        return fhat

    def decode_fhat(self, fhat: Tensor, lr: Optional[Tensor] = None) -> Tensor:
        """Latent (and, with ``lr_condition``, the LR image at the output size) → image in [-1, 1]."""
        return self.decode_fhat_unclamped(fhat, lr).clamp(-1, 1)

    def decode_fhat_unclamped(self, fhat: Tensor, lr: Optional[Tensor] = None) -> Tensor:
        h = self.post_quant_conv(fhat)
        if self.lr_condition == "none":
            return self.decoder(h)
        if lr is None:
            raise ValueError(f"multiscale_vqvae: lr_condition={self.lr_condition!r} decodes with the LR image; pass lr=")
        if lr.shape[-2:] != (h.shape[-2] * self.downsample, h.shape[-1] * self.downsample):
            raise ValueError(f"multiscale_vqvae: the LR image is {tuple(lr.shape[-2:])}, the output "
                             f"{h.shape[-2] * self.downsample}x{h.shape[-1] * self.downsample}")
        lr = lr.to(h.dtype)
        h = h + self.lr_proj(F.pixel_unshuffle(lr, self.downsample))
        if self.lr_condition == "unshuffle":
            return self.decoder(h)
        first = self.decoder.shuffle_levels  # lr_skips[i] feeds resolution level i + first
        skips = [conv(F.pixel_unshuffle(lr, 2 ** (i + first)) if i + first else lr) for i, conv in enumerate(self.lr_skips)]
        return self.decoder(h, [*skips, None])

    def code_maps(self, indices: Sequence[Tensor], codebook: Codebook, h: Optional[Tensor] = None) -> list[Tensor]:
        """Per-scale code maps ``[B, C, pn, pn]``, conditioned on ``h`` when the codebook supports it."""
        maps = []
        for idx in indices:
            b, n = idx.shape
            pn = int(round(n**0.5))
            maps.append(codebook.embed(idx, h).transpose(1, 2).reshape(b, -1, pn, pn))
        return maps

    def decode_indices(self, indices: Sequence[Tensor], codebook: Codebook, h: Optional[Tensor] = None,
                       lr: Optional[Tensor] = None) -> Tensor:
        """Token maps of every scale → image in [-1, 1]."""
        return self.decode_fhat(self.embeddings_to_fhat(self.code_maps(indices, codebook, h)), lr)

    def forward(self, img: Tensor, codebook: Codebook, lr: Optional[Tensor] = None) -> Tensor:
        """Reconstruction through the full token hierarchy (for evaluating the tokenizer)."""
        return self.decode_indices(self.tokenize(img, codebook).indices, codebook, lr=lr)

    def training_forward(self, img: Tensor, codebook: Codebook, lr: Optional[Tensor] = None) -> tuple[Tensor, Tensor, Tensor]:
        """VQ-VAE training step: ``(reconstruction, vq_loss, code_counts [V])``.

        Residual quantisation with Φ at every scale; the codebook and Φ learn through
        ``mse(f̂, sg[f])``, the encoder through the commitment term ``β·mse(sg[f̂], f)``, and the decoder
        sees ``f̂`` through the straight-through estimator.
        """
        f = self.encode(img).float()
        b, c, hgt, wid = f.shape
        target = f.detach()
        rest, fhat = target.clone(), torch.zeros_like(target)
        weight = codebook.weight
        counts = torch.zeros(weight.shape[0], device=f.device)
        vq_loss = f.new_zeros(())
        last = len(self.patch_nums) - 1
        for si, pn in enumerate(self.patch_nums):
            z = rest if si == last else F.interpolate(rest, size=(pn, pn), mode="area")
            with torch.no_grad():
                idx = self.nearest(z.detach().permute(0, 2, 3, 1).reshape(-1, c), weight.detach().float())
            counts += torch.bincount(idx, minlength=weight.shape[0]).float()
            h = weight[idx].float().view(b, pn, pn, c).permute(0, 3, 1, 2)
            if si != last:
                h = F.interpolate(h, size=(hgt, wid), mode="bicubic")
            h = self.phi(si, h)
            fhat = fhat + h
            rest = rest - h.detach()
            vq_loss = vq_loss + F.mse_loss(fhat, target) + self.beta * F.mse_loss(fhat.detach(), f)
        vq_loss = vq_loss / len(self.patch_nums)
        straight_through = f + (fhat - f).detach()
        return self.decode_fhat_unclamped(straight_through, lr), vq_loss, counts
