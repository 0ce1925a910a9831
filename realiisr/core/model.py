"""The assembled model: the recipe's components in one ``nn.Module`` that remembers its recipe."""
from __future__ import annotations

from typing import Any

from torch import nn

from realiisr.core.recipes import Recipe

__all__ = ["RealIISR"]


class RealIISR(nn.Module):
    """Tokenizer, codebook, guidance, generator and physics losses of one recipe.

    The resolved recipe is kept as ``model.recipe`` (and returned by :meth:`extra_repr`), so the exact
    configuration travels with the module and can be written next to a checkpoint.
    """

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

    @property
    def scale(self) -> int:
        return self.recipe.scale

    def num_parameters(self, trainable_only: bool = False) -> int:
        """Unique parameters (shared tensors counted once)."""
        seen: dict[int, Any] = {}
        for p in self.parameters():
            if not trainable_only or p.requires_grad:
                seen[id(p)] = p
        return sum(p.numel() for p in seen.values())

    def extra_repr(self) -> str:
        return f"recipe={self.recipe.name!r}, scale={self.recipe.scale}"
