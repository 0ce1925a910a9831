"""What each component of a trained model contributes, measured by taking its input away at inference.

``realiisr evaluate --data PAIRS --align --without guidance`` runs the same weights with the guidance (TSG)
shown only each tile's mean grey level: no thermal or edge structure reaches the generator or the CAC codebook.
``--without tokens`` replaces the generator's posterior by the uniform one before the posterior-mean decode: the
decoder then sees the LR and the codebook's mean vector only. The gap to the full model is that component's
contribution; none means the component is inert in these weights (the model card reports both for the shipped
model). Nothing is retrained and the weights are untouched; the change lives on the one model object, for the
``with`` block only.
"""
from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Iterator

import torch
from torch import Tensor, nn

if TYPE_CHECKING:
    from realiisr.model import RealIISR

__all__ = ["COMPONENTS", "without"]

#: Components :func:`without` can take away.
COMPONENTS = ("guidance", "tokens")


class _MeanOnly(nn.Module):
    """The wrapped guidance, fed a flat frame at each input's mean grey level."""

    def __init__(self, guidance: nn.Module) -> None:
        super().__init__()
        self.inner = guidance

    def forward(self, lr: Tensor, *args, **kwargs):
        flat = lr.mean(dim=tuple(range(1, lr.dim())), keepdim=True).expand_as(lr)
        return self.inner(flat, *args, **kwargs)


@contextlib.contextmanager
def without(model: "RealIISR", component: str) -> Iterator["RealIISR"]:
    """``model`` with ``component`` (``guidance`` or ``tokens``) taken away inside the block."""
    if component not in COMPONENTS:
        raise ValueError(f"--without {component!r}: expected one of {', '.join(COMPONENTS)}")
    if component == "guidance":
        original = model.guidance
        model.guidance = _MeanOnly(original)
        try:
            yield model
        finally:
            model.guidance = original
        return
    if model.options.get("infer_decode") != "soft":
        raise ValueError("--without tokens: needs a recipe that decodes the posterior mean (options.infer_decode: "
                         f"soft); {model.recipe.name!r} decodes sampled tokens")
    decode_soft = model.decode_soft
    model.decode_soft = lambda logits, h, lr=None: decode_soft(torch.zeros_like(logits), h, lr)
    try:
        yield model
    finally:
        del model.decode_soft
