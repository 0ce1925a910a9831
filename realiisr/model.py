"""The assembled Real-IISR model: tokenizer, codebook, guidance, generator and physics losses of one recipe.

Images are ``[B, 3, H, W]`` in [-1, 1]; the LR input is already resized to the output size (the
reference's convention). Outputs of :meth:`sample` and the decoded images of the losses are in [0, 1].

Recipe ``options`` (defaults reproduce the reference):
    ``pixel_loss_path``: ``"argmax"`` decodes the teacher-forced argmax tokens for the pixel losses (their
        gradients then reach only the codebook condition path), ``"soft"`` decodes the probability-weighted
        conditioned codebook so the pixel losses also train the transformer.
    ``cac_condition_train`` / ``cac_condition_infer``: whether the CAC condition ``h`` is computed from the
        start tokens ``"with_pos_start"`` or ``"without_pos_start"``; the reference uses the former in
        training and the latter at inference.
    ``output_base``: ``"none"`` (the reference) tokenises and decodes the HR image itself; ``"lr"`` tokenises
        the detail ``hr - lr`` and adds the decoded detail to the (resized) LR input, so the tokens only carry
        what the LR lacks and the tokenizer's reconstruction ceiling is no longer the output's ceiling.
    ``infer_decode``: ``"indices"`` (the reference) decodes the sampled tokens; ``"soft"`` decodes the
        probability-weighted code vectors of each scale (the posterior mean: higher PSNR, less texture).
    ``color_fix``: the grey-level correction that tiled upscaling applies by default against the upsampled LR:
        ``"adain"`` (the reference's test script), ``"wavelet"`` or ``"none"``.
    ``cfg``: the default classifier-free-guidance strength of :meth:`RealIISR.sample` (the reference's test
        setting 1.0); at 0 the negative half is not run, which halves the generator's work.
"""
from __future__ import annotations

from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from realiisr.core.recipes import Recipe

__all__ = ["RealIISR"]

_DEFAULT_OPTIONS = {
    "pixel_loss_path": "argmax",
    "cac_condition_train": "with_pos_start",
    "cac_condition_infer": "without_pos_start",
    "output_base": "none",
    "infer_decode": "indices",
    "color_fix": "adain",
    "cfg": 1.0,
}
_CHOICES = {
    "pixel_loss_path": ("argmax", "soft"),
    "cac_condition_train": ("with_pos_start", "without_pos_start"),
    "cac_condition_infer": ("with_pos_start", "without_pos_start"),
    "output_base": ("none", "lr"),
    "infer_decode": ("indices", "soft"),
    "color_fix": ("adain", "wavelet", "none"),
}


class RealIISR(nn.Module):
    """The model built by :func:`realiisr.build`; ``model.recipe`` is the resolved recipe it was built from."""

    def __init__(
        self,
        recipe: Recipe,
        *,
        tokenizer: nn.Module,
        codebook: nn.Module,
        guidance: nn.Module,
        generator: nn.Module,
        losses: dict[str, nn.Module],
    ) -> None:
        super().__init__()
        self.recipe = recipe
        self.tokenizer = tokenizer
        self.codebook = codebook
        self.guidance = guidance
        self.generator = generator
        self.losses = nn.ModuleDict(losses)
        self.loss_weights = dict(recipe.loss_weights)
        unknown = set(recipe.options) - set(_DEFAULT_OPTIONS)
        if unknown:
            raise ValueError(f"recipe {recipe.name!r}: unknown options {sorted(unknown)}; known: {sorted(_DEFAULT_OPTIONS)}")
        self.options = {**_DEFAULT_OPTIONS, **recipe.options}
        for key, allowed in _CHOICES.items():
            if self.options[key] not in allowed:
                raise ValueError(f"recipe {recipe.name!r}: option {key} must be one of {allowed}, got {self.options[key]!r}")
        cfg = self.options["cfg"]
        if isinstance(cfg, bool) or not isinstance(cfg, (int, float)) or not cfg >= 0:
            raise ValueError(f"recipe {recipe.name!r}: option cfg must be a number >= 0, got {cfg!r}")

    @property
    def scale(self) -> int:
        return self.recipe.scale

    def num_parameters(self, trainable_only: bool = False) -> int:
        """Unique parameters (shared tensors counted once)."""
        seen = {id(p): p for p in self.parameters() if not trainable_only or p.requires_grad}
        return sum(p.numel() for p in seen.values())

    def extra_repr(self) -> str:
        return f"recipe={self.recipe.name!r}, scale={self.recipe.scale}"

    # ------------------------------------------------------------------ shared steps
    def _labels(self, batch: int, labels: Optional[Tensor], device: torch.device) -> Tensor:
        if labels is None:
            return torch.zeros(batch, dtype=torch.long, device=device)
        return labels.to(device=device, dtype=torch.long)

    def _condition(self, start: Tensor, with_pos: bool) -> Optional[Tensor]:
        """CAC condition ``h`` from the (positioned or raw) start tokens."""
        if not getattr(self.codebook, "conditioned", False):
            return None
        if with_pos:
            start = start + self.generator.pos_start
        return self.codebook.condition(start)

    def tokenizer_target(self, lr: Tensor, hr: Tensor) -> Tensor:
        """What the tokenizer codes for this pair: ``hr`` itself, or its detail over ``lr`` (``output_base="lr"``)."""
        return hr - lr if self.options["output_base"] == "lr" else hr

    def compose(self, decoded: Tensor, lr: Tensor) -> Tensor:
        """The image in [-1, 1] from the tokenizer's decoded output (inverse of :meth:`tokenizer_target`)."""
        return (decoded + lr).clamp(-1, 1) if self.options["output_base"] == "lr" else decoded

    def _split(self, flat: Tensor) -> list[Tensor]:
        sizes = [p * p for p in self.tokenizer.patch_nums]
        return list(flat.split(sizes, dim=1))

    # ------------------------------------------------------------------ training
    def teacher_forced(self, lr: Tensor, hr: Tensor, labels: Optional[Tensor] = None) -> dict[str, Any]:
        """Tokenise ``hr``, run the generator with teacher forcing on ``lr``'s guidance."""
        tokens = self.tokenizer.tokenize(self.tokenizer_target(lr, hr), self.codebook)
        teacher_input = self.tokenizer.teacher_forcing_input(tokens.indices, self.codebook)
        labels = self._labels(lr.shape[0], labels, lr.device)
        context = self.guidance(lr)
        logits, start = self.generator(context, labels, teacher_input)
        h = self._condition(start, self.options["cac_condition_train"] == "with_pos_start")
        return {"tokens": tokens, "teacher_input": teacher_input, "logits": logits, "context": context, "h": h}

    def training_losses(self, lr: Tensor, hr: Tensor, labels: Optional[Tensor] = None) -> dict[str, Tensor]:
        """Cross-entropy plus the recipe's weighted physics losses on the decoded prediction.

        Returns ``total`` and every term (``ce``, one per physics loss), plus ``ce_tail`` (last scale),
        ``acc``/``acc_tail`` (teacher-forced token accuracy, %), ``sr`` ([0, 1]) and ``pred`` (indices).
        A generator that defines ``model_training_losses`` computes them itself.
        """
        own = getattr(self.generator, "model_training_losses", None)
        if own is not None:
            return own(self, lr, hr, self._labels(lr.shape[0], labels, lr.device))
        out = self.teacher_forced(lr, hr, labels)
        logits, target = out["logits"], out["tokens"].flat
        b, n, vocab = logits.shape
        ce_tokens = F.cross_entropy(logits.reshape(-1, vocab), target.reshape(-1), reduction="none").view(b, n)
        pred = logits.argmax(dim=-1)
        tail = self.tokenizer.patch_nums[-1] ** 2
        result: dict[str, Tensor] = {
            "ce": ce_tokens.mean(dim=1).mean(),
            "ce_tail": ce_tokens[:, -tail:].mean(dim=1).mean(),
            "acc": (pred == target).float().mean() * 100,
            "acc_tail": (pred[:, -tail:] == target[:, -tail:]).float().mean() * 100,
            "pred": pred,
        }
        if self.losses:
            if self.options["pixel_loss_path"] == "soft":
                sr = self.decode_soft(logits, out["h"], lr)
            else:
                sr = self.tokenizer.decode_indices(self._split(pred), self.codebook, out["h"], lr)
            # the physics losses run in float32 whatever autocast made of the decoder (bf16 on CUDA)
            sr = (self.compose(sr.float(), lr.float()) + 1) / 2
            hr01 = (hr.float() + 1) / 2
            result["sr"] = sr
            for name, loss in self.losses.items():
                result[name] = loss(sr, hr01)
        result["total"] = sum(self.loss_weights.get(name, 1.0 if name == "ce" else 0.0) * result[name]
                              for name in ["ce", *self.losses])
        return result

    def decode_soft(self, logits: Tensor, h: Optional[Tensor], lr: Optional[Tensor] = None) -> Tensor:
        """Decode the probability-weighted (conditioned) code vectors — differentiable in the logits.
        ``lr`` is needed by LR-conditioned tokenizers only."""
        return self.tokenizer.decode_fhat(self.soft_latent(logits, h), lr)

    def soft_latent(self, logits: Tensor, h: Optional[Tensor]) -> Tensor:
        """The latent that :meth:`decode_soft` decodes: the sum over scales of the posterior-mean code maps."""
        probs = logits.softmax(dim=-1)
        codebook = self.codebook.codebook(h)
        vectors = probs @ codebook if codebook.dim() == 3 else probs @ codebook.unsqueeze(0)
        maps = []
        for chunk, pn in zip(self._split(vectors), self.tokenizer.patch_nums):
            maps.append(chunk.transpose(1, 2).reshape(vectors.shape[0], -1, pn, pn))
        return self.tokenizer.embeddings_to_fhat(maps)

    def forward(self, lr: Tensor, hr: Tensor, labels: Optional[Tensor] = None) -> dict[str, Tensor]:
        return self.training_losses(lr, hr, labels)

    # ------------------------------------------------------------------ inference
    def upscale(self, image: Any, *, normalize: str = "minmax", **settings: Any) -> Any:
        """Super-resolve a whole LR frame of any size ×scale, returning the same kind of object.

        ``image``: a PIL image, a numpy array (8-bit on [0, 255]; 16-bit mapped by ``normalize``: its own
        ``"minmax"`` range, or ``"fixed"`` [0, 65535]; float in [0, 1]) or a ``[h, w]`` / ``[1, h, w]`` tensor
        in [0, 1]. The same path as the ``realiisr upscale`` command (:mod:`realiisr.inference.images`).
        ``settings`` go to :class:`realiisr.inference.Upscaler` (overlap, seed, color_fix, cfg, top_k, ...).
        """
        from realiisr.inference.images import upscale_image

        return upscale_image(self, image, normalize=normalize, **settings)

    @torch.no_grad()
    def sample(
        self,
        lr: Tensor,
        labels: Optional[Tensor] = None,
        *,
        cfg: Optional[float] = None,
        top_k: int = 1,
        top_p: float = 0.75,
        generator: Optional[torch.Generator] = None,
        return_details: bool = False,
        cuda_graphs: bool = False,
    ) -> Any:
        """Super-resolve ``lr`` (``[B, 3, H, W]`` in [-1, 1], already at the output size) → ``[B, 3, H, W]`` in [0, 1].

        Defaults are the reference's test settings (top-k 1, top-p 0.75: greedy decoding; cfg: the recipe's
        option, 1 unless the recipe sets it).
        ``cuda_graphs``: replay the generator's per-scale passes from CUDA graphs (see
        :meth:`VARGenerator.generate`); generators without the option ignore it.
        """
        labels = self._labels(lr.shape[0], labels, lr.device)
        own = getattr(self.generator, "model_sample", None)
        if own is not None:
            return own(self, lr, labels, generator=generator)
        soft = self.options["infer_decode"] == "soft"
        out = self.generate(lr, labels, cfg=cfg, top_k=top_k, top_p=top_p, generator=generator,
                            keep_logits=return_details or soft, cuda_graphs=cuda_graphs)
        if soft:
            decoded = self.decode_soft(torch.cat(out["logits"], dim=1).float(), out["h"], lr)
        else:
            decoded = self.tokenizer.decode_indices(out["indices"], self.codebook, out["h"], lr)
        img = (self.compose(decoded, lr) + 1) / 2
        if return_details:
            return {"img": img, **out}
        return img

    @torch.no_grad()
    def generate(self, lr: Tensor, labels: Tensor, *, cfg: Optional[float] = None, top_k: int = 1,
                 top_p: float = 0.75, generator: Optional[torch.Generator] = None, keep_logits: bool = True,
                 cuda_graphs: bool = False) -> dict[str, Any]:
        """The token part of :meth:`sample`, nothing decoded: ``indices`` per scale, their ``logits`` per scale
        (when ``keep_logits``), the CAC condition ``h`` and the guidance ``context``."""
        context = self.guidance(lr)
        start = self.generator.start_tokens(context, labels)
        h = self._condition(start, self.options["cac_condition_infer"] == "with_pos_start")
        side = self.tokenizer.patch_nums[-1]
        state = {"fhat": torch.zeros(lr.shape[0], self.tokenizer.z_channels, side, side, device=lr.device)}
        logits_seen: list[Tensor] = []

        def next_input(si: int, idx: Tensor) -> Tensor:
            pn = self.tokenizer.patch_nums[si]
            maps = self.codebook.embed(idx).float().transpose(1, 2).reshape(idx.shape[0], -1, pn, pn)
            state["fhat"], nxt = self.tokenizer.next_ar_input(si, state["fhat"], maps)
            return nxt.flatten(2).transpose(1, 2)

        extra = {"cuda_graphs": True} if cuda_graphs else {}
        indices = self.generator.generate(
            context, labels, next_input, cfg=self.options["cfg"] if cfg is None else cfg, top_k=top_k, top_p=top_p, generator=generator,
            on_logits=(lambda si, lg: logits_seen.append(lg.clone())) if keep_logits else None, **extra,
        )
        return {"indices": indices, "logits": logits_seen, "h": h, "context": context}
