"""The VAR generator: next-scale prediction over multi-scale VQ tokens, conditioned on a token context.

Sequence layout: ``[context | class token | scale-2 inputs | … | scale-K inputs]``; the class-token position
predicts the 1×1 scale and the inputs of scale k predict scale k. Attention is bidirectional within a
level and causal across levels (the context and the class token are level 0).
"""
from __future__ import annotations

import logging
from typing import Callable, Optional, Sequence

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from realiisr.core.interfaces import Generator
from realiisr.core.registries import GENERATORS
from realiisr.generators.blocks import AdaLNBlock, AdaLNHead, rope_angles
from realiisr.generators.sampling import sample_top_k_top_p
from realiisr.generators.scale_graphs import ScaleGraphs
from realiisr.scales import REFERENCE_PATCH_NUMS

__all__ = ["VARGenerator"]

_LOG = logging.getLogger(__name__)


@GENERATORS.register(name="var")
class VARGenerator(Generator):
    """Args:
        depth, width, num_heads, mlp_ratio: transformer size (the reference: 24, 1536, 24, 4).
        drop_path_rate: stochastic depth, linear from 0 to this over the blocks.
        patch_nums: token-map sides, coarse to fine.
        context_maps: sides of the context token maps (TSG: ``[pn_K, pn_K]`` for LR and guidance tokens).
        vocab_size, z_channels: codebook size and code width.
        num_classes: class embeddings; the last class is the negative one used by classifier-free guidance.
        attn_l2_norm: L2-normalised q/k with a learnt per-head scale (softmax scale 1).
        rope_grid, rope_theta: the scale-aligned RoPE grid (the reference hard-codes 32) and base.
        activation_checkpointing: in training, recompute each block's activations in the backward instead of
            keeping them (less memory for the 1.1 B model, about a third more compute; same gradients).
    """

    def __init__(
        self,
        *,
        depth: int = 24,
        width: int = 1536,
        num_heads: int = 24,
        mlp_ratio: float = 4.0,
        drop_path_rate: float = 0.1,
        patch_nums: Sequence[int] = REFERENCE_PATCH_NUMS,
        context_maps: Optional[Sequence[int]] = None,
        vocab_size: int = 4096,
        z_channels: int = 32,
        num_classes: int = 2,
        attn_l2_norm: bool = True,
        rope_grid: int = 32,
        rope_theta: float = 10000.0,
        norm_eps: float = 1e-6,
        activation_checkpointing: bool = False,
    ) -> None:
        super().__init__()
        self.activation_checkpointing = bool(activation_checkpointing)
        if width % num_heads:
            raise ValueError(f"var: width {width} is not divisible by num_heads {num_heads}")
        self.patch_nums = tuple(int(p) for p in patch_nums)
        self.context_maps = tuple(int(s) for s in (context_maps or (self.patch_nums[-1],) * 2))
        self.width, self.num_classes, self.vocab_size = width, num_classes, vocab_size
        self.num_context = sum(s * s for s in self.context_maps)
        self.first_l = self.num_context + 1
        self.num_tokens = sum(p * p for p in self.patch_nums)
        self.word_embed = nn.Linear(z_channels, width)
        self.class_emb = nn.Embedding(num_classes, width)
        self.pos_start = nn.Parameter(torch.randn(1, self.first_l, width) * (1 / (3 * width)) ** 0.5)
        self.lvl_embed = nn.Embedding(len(self.patch_nums), width)
        rates = torch.linspace(0, drop_path_rate, depth, device="cpu").tolist()
        self.blocks = nn.ModuleList(
            AdaLNBlock(width, num_heads, mlp_ratio, rates[i], attn_l2_norm, norm_eps) for i in range(depth)
        )
        self.head_nm = AdaLNHead(width, norm_eps)
        self.head = nn.Linear(width, vocab_size)
        # level ends of the whole sequence: the context + class token, then each later scale
        ends, cur = [self.first_l], self.first_l
        for pn in self.patch_nums[1:]:
            cur += pn * pn
            ends.append(cur)
        self.level_ends = tuple(ends)
        # rows of each scale's pass in generation: the context and class token, then each later scale
        self.scale_rows = tuple(slice(a, b) for a, b in zip((0,) + self.level_ends[:-1], self.level_ends))
        levels = torch.cat([torch.zeros(self.first_l, dtype=torch.long)] + [
            torch.full((pn * pn,), i + 1, dtype=torch.long) for i, pn in enumerate(self.patch_nums[1:])
        ])
        angles = rope_angles(width // num_heads, list(self.context_maps) + list(self.patch_nums), rope_grid, rope_theta)
        # Derived tables, rebuilt from the configuration: never written to checkpoints.
        self.register_buffer("levels", levels, persistent=False)
        self.register_buffer("rope_cos", angles.cos(), persistent=False)
        self.register_buffer("rope_sin", angles.sin(), persistent=False)

    @property
    def sequence_length(self) -> int:
        return self.first_l + self.num_tokens - 1

    def _run(self, x: Tensor, cond: Tensor, rows: slice, level_ends: Optional[Sequence[int]],
             last_only: bool = False) -> Tensor:
        cos, sin = self.rope_cos[rows], self.rope_sin[rows]
        recompute = self.activation_checkpointing and self.training and torch.is_grad_enabled()
        for i, block in enumerate(self.blocks):
            # the last block's attention queries, FFN and head run for the sampled position only: the
            # other positions' outputs feed nothing (their keys and values entered every layer's cache)
            last = 1 if last_only and i == len(self.blocks) - 1 else None
            if recompute:
                x = checkpoint(block, x, cond, cos, sin, level_ends, last, use_reentrant=False)
            else:
                x = block(x, cond, cos, sin, level_ends, last)
        if last_only:  # a no-op after the last block's shortcut; there for a generator without blocks
            x = x[:, -1:]
        return self.head(self.head_nm(x.float(), cond).float()).float()

    def start_tokens(self, context: Tensor, labels: Tensor) -> Tensor:
        """``[context | class token]`` without positions ``[B, first_l, width]``."""
        if context.shape[1] != self.num_context:
            raise ValueError(
                f"var: the guidance gave {context.shape[1]} context tokens, the generator expects {self.num_context} "
                f"(context_maps={list(self.context_maps)})"
            )
        return torch.cat([context, self.class_emb(labels).unsqueeze(1)], dim=1)

    def forward(self, context: Tensor, labels: Tensor, teacher_input: Tensor) -> tuple[Tensor, Tensor]:
        """Teacher-forced logits ``[B, L, V]`` and the start tokens ``[B, first_l, width]`` (without positions).

        ``teacher_input`` is ``[B, L - 1, z_channels]`` from the tokenizer's ``teacher_forcing_input``.
        """
        cond = self.class_emb(labels)
        start = self.start_tokens(context, labels)
        x = torch.cat([start + self.pos_start, self.word_embed(teacher_input.float())], dim=1)
        logits = self._run(x + self.lvl_embed(self.levels), cond, slice(0, self.sequence_length), self.level_ends)
        return logits[:, self.first_l - 1 :], start

    def scale_logits(self, si: int, source: Tensor, cond: Tensor) -> Tensor:
        """Logits of generation pass ``si`` for both guidance halves, extending the KV cache.

        ``source``: the start tokens of both halves ``[2B, first_l, width]`` for the first pass, after it the
        tokenizer's next input ``[B, pn², z_channels]``; ``cond``: the class embeddings ``[2B, width]``. Only
        tensor ops with shapes fixed per (pass, batch): :class:`ScaleGraphs` captures this call per pass.
        """
        rows = self.scale_rows[si]
        lvl = self.lvl_embed(self.levels[rows])
        if si == 0:
            x = source + self.pos_start + lvl
        else:
            # contiguous: under bf16 autocast a transposed input takes another GEMM path (other roundings),
            # and the captured pass reads a contiguous static buffer
            x = self.word_embed(source.float().contiguous()) + lvl
            if cond.shape[0] != x.shape[0]:  # both guidance halves see the same tokens
                x = torch.cat([x, x])
        return self._run(x, cond, rows, None, last_only=si == 0)

    @torch.no_grad()
    def generate(
        self,
        context: Tensor,
        labels: Tensor,
        next_input: Callable[[int, Tensor], Tensor],
        *,
        cfg: float = 1.0,
        top_k: int = 1,
        top_p: float = 0.75,
        generator: Optional[torch.Generator] = None,
        on_logits: Optional[Callable[[int, Tensor], None]] = None,
        cuda_graphs: bool = False,
    ) -> list[Tensor]:
        """Autoregressive next-scale sampling with a KV cache and image-based classifier-free guidance.

        Args:
            next_input: ``(scale, indices [B, pn²]) → next scale's input [B, pn_next², z_channels]`` (the
                tokenizer's running reconstruction); called after every scale but the last.
            cfg: guidance strength; scale k uses ``t = cfg·k/(K-1)``, logits ``(1+t)·cond − t·negative``.
            on_logits: called with the post-guidance logits of each scale (for tests and analysis).
            cuda_graphs: replay each scale's transformer pass as a CUDA graph captured once per batch size,
                dtype and autocast state (:class:`ScaleGraphs`); off CUDA the same static-buffer path runs
                eagerly. The indices are those of the eager path.

        Returns:
            The sampled indices of every scale, ``[B, pn²]`` each.
        """
        b = labels.shape[0]
        # cfg 0 weights the negative half by t = 0 at every scale: it is not run at all (half the passes' work)
        guided = cfg != 0
        if guided:
            negative = torch.full_like(labels, self.num_classes - 1)
            cond = self.class_emb(torch.cat([labels, negative]))
            start = torch.cat([context, context]) if context.shape[0] == b else context
        else:
            cond, start = self.class_emb(labels), context[:b]
        start = torch.cat([start, cond.unsqueeze(1)], dim=1)
        graphs = self.scale_graphs(start, cond, guided) if cuda_graphs else None
        if graphs is None:
            for block in self.blocks:
                block.attn.set_caching(True, capacity=self.level_ends[-1])
        indices, last = [], len(self.patch_nums) - 1
        source = start
        try:
            if graphs is not None:
                graphs.begin(start, cond)
            for si in range(len(self.patch_nums)):
                logits = graphs.logits(si, source) if graphs is not None else self.scale_logits(si, source, cond)
                if guided:
                    t = cfg * si / last if last else 0.0
                    logits = (1 + t) * logits[:b] - t * logits[b:]
                if on_logits is not None:
                    on_logits(si, logits)
                idx = sample_top_k_top_p(logits, top_k, top_p, generator)
                indices.append(idx)
                if si != last:
                    source = next_input(si, idx)
        finally:
            if graphs is not None:
                graphs.end()
            else:
                for block in self.blocks:
                    block.attn.set_caching(False)
        return indices

    def scale_graphs(self, start: Tensor, cond: Tensor, guided: bool = True) -> Optional[ScaleGraphs]:
        """The :class:`ScaleGraphs` for these inputs' batch, dtypes, device and autocast state (and these
        weights' storage), captured on first use; the last two are kept. ``None`` where the capture failed."""
        key = ScaleGraphs.key_for(self, start, cond, guided)
        cache = self.__dict__.setdefault("_scale_graphs", {})
        if key not in cache:
            while len(cache) >= 2:
                evicted = cache.pop(next(iter(cache)))
                if evicted is not None:
                    evicted.release()
            try:
                cache[key] = ScaleGraphs(self, start, cond, capture=start.is_cuda, guided=guided)
            except torch.OutOfMemoryError:
                raise  # the caller's to handle (the upscaler retries with fewer tiles)
            except RuntimeError as exc:
                if not start.is_cuda:
                    raise
                # A kernel that cannot be captured (a library's, on this GPU and version) must not stop an
                # upscale: remember the failure for this key and generate eagerly.
                _LOG.warning("CUDA graph capture failed; generating without graphs: %s", str(exc).splitlines()[0])
                cache[key] = None
        return cache[key]

    def compile_small_ops(self, enabled: bool = True) -> "VARGenerator":
        """Run every block's small ops through ``torch.compile`` in inference (:mod:`block_ops`: fused
        elementwise kernels around the library matrix products; compiled once per process, dynamic shapes).
        The first call after enabling pays the compilation (tens of seconds)."""
        for block in self.blocks:
            block.compiled = bool(enabled)
        return self

    def release_graphs(self) -> None:
        """Free every captured graph and its memory (they are rebuilt on the next ``cuda_graphs`` call)."""
        for graphs in self.__dict__.pop("_scale_graphs", {}).values():
            if graphs is not None:
                graphs.release()
