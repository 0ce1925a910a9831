"""The conditional adaptive codebook (CAC): a per-image low-rank offset of every code vector.

``Z'[i] = Z[i] + tanh(a) · (U[i] ⊙ h) Vᵀ`` with ``h = MLP(mean of the conditioning context)``. Only the
factors ``U``, ``V``, the gate ``a`` and the MLP are trained; ``Z`` stays the tokenizer's frozen codebook.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from realiisr.codebooks.vq import VQCodebook
from realiisr.core.registries import CODEBOOKS
from realiisr.ops import cac_codebook, cac_embedding

__all__ = ["ConditionalAdaptiveCodebook"]


@CODEBOOKS.register(name="cac", aliases=("conditional_adaptive",))
class ConditionalAdaptiveCodebook(VQCodebook):
    """Args:
        vocab_size, dim: codebook shape.
        rank: rank ``r`` of the offset.
        context_dim: width of the conditioning tokens (the generator width).
        hidden: hidden width of the condition MLP (LayerNorm without affine → SiLU → Linear → SiLU → Linear).
        frozen: keep the base codebook frozen.
    """

    conditioned = True

    def __init__(
        self, vocab_size: int = 4096, dim: int = 32, rank: int = 8, context_dim: int = 1536, hidden: int = 32,
        frozen: bool = True,
    ) -> None:
        super().__init__(vocab_size, dim, frozen)
        self.rank = rank
        self.U = nn.Parameter(torch.randn(vocab_size, rank) * 0.02)
        self.V = nn.Parameter(torch.randn(dim, rank) * 0.02)
        self.gate = nn.Parameter(torch.zeros(1))  # tanh(0) = 0: starts as the static codebook
        self.cond_mlp = nn.Sequential(
            nn.LayerNorm(context_dim, elementwise_affine=False),
            nn.SiLU(),
            nn.Linear(context_dim, hidden),
            nn.SiLU(),
            nn.Linear(hidden, rank),
        )

    def condition(self, context: Tensor) -> Tensor:
        """``h [B, r]`` from conditioning tokens ``[B, N, context_dim]`` (their mean) or a pooled ``[B, context_dim]``."""
        pooled = context.mean(dim=1) if context.dim() == 3 else context
        return self.cond_mlp(pooled)

    def embed(self, idx: Tensor, h: Optional[Tensor] = None) -> Tensor:
        if h is None:
            return self.embedding(idx)
        return cac_embedding(idx, self.embedding.weight, self.U, self.V, h, self.gate)

    def codebook(self, h: Optional[Tensor] = None) -> Tensor:
        """``[V, dim]`` without a condition, ``[B, V, dim]`` with one."""
        if h is None:
            return self.embedding.weight
        return cac_codebook(self.embedding.weight, self.U, self.V, h, self.gate)

    def extra_repr(self) -> str:
        return f"vocab_size={self.vocab_size}, dim={self.dim}, rank={self.rank}"
