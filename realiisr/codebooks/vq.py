"""The static VQ codebook."""
from __future__ import annotations

from typing import Optional

from torch import Tensor, nn

from realiisr.core.interfaces import Codebook
from realiisr.core.registries import CODEBOOKS

__all__ = ["VQCodebook"]


@CODEBOOKS.register(name="vq", aliases=("static",))
class VQCodebook(Codebook):
    """``vocab_size`` code vectors of width ``dim``; frozen by default (it belongs to the tokenizer)."""

    conditioned = False

    def __init__(self, vocab_size: int = 4096, dim: int = 32, frozen: bool = True, **_unused_condition: object) -> None:
        super().__init__()
        self.vocab_size, self.dim = vocab_size, dim
        self.embedding = nn.Embedding(vocab_size, dim)
        if frozen:
            self.embedding.requires_grad_(False)

    @property
    def weight(self) -> Tensor:
        return self.embedding.weight

    def condition(self, context: Tensor) -> Optional[Tensor]:
        """A static codebook ignores the conditioning context."""
        return None

    def embed(self, idx: Tensor, h: Optional[Tensor] = None) -> Tensor:
        """Code vectors ``[..., dim]`` for token ids."""
        return self.embedding(idx)

    def codebook(self, h: Optional[Tensor] = None) -> Tensor:
        """The whole codebook ``[V, dim]``."""
        return self.embedding.weight

    def extra_repr(self) -> str:
        return f"vocab_size={self.vocab_size}, dim={self.dim}"
