"""Base classes for every registered component kind.

A registry accepts a subclass of its kind's base class, or a factory function whose result is an
instance of it (checked when the component is built). Plugins follow the same rule, so a plugin that
points its entry point at the wrong kind of object is reported as failed instead of breaking a build.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable

from torch import Tensor, nn

__all__ = [
    "Component",
    "Tokenizer",
    "Codebook",
    "Guidance",
    "Generator",
    "PhysicsLoss",
    "component_checks",
]


class Component(nn.Module):
    """Common base: a component is an ``nn.Module`` built from keyword arguments only."""


class Tokenizer(Component):
    """Image ↔ multi-scale token maps (the frozen VQ-VAE of the reference)."""


class Codebook(Component):
    """Token ids → code vectors, optionally conditioned on a per-image vector ``h``."""


class Guidance(Component):
    """LR image → conditioning tokens for the generator (the reference's TSG)."""


class Generator(Component):
    """Predicts the output from the conditioning (the reference's VAR predicts multi-scale tokens).

    A generator of another family (a diffusion model, say) may take over the model's steps by defining
    ``model_training_losses(model, lr, hr, labels) -> dict`` (with a ``total`` entry) and
    ``model_sample(model, lr, labels, **settings) -> [B, 3, H, W] in [0, 1]``; :class:`RealIISR` then calls
    them instead of the token pipeline, so training, upscaling and ablations work unchanged.
    """


class PhysicsLoss(Component):
    """A differentiable loss between a super-resolved image and its ground truth.

    ``forward(sr, hr)`` takes images of shape ``[B, C, H, W]`` and returns a scalar (or per-item losses
    when the loss has a ``reduction`` of ``"none"``).
    """

    def forward(self, sr: Tensor, hr: Tensor) -> Tensor:  # pragma: no cover - interface
        raise NotImplementedError


def component_checks(base: type) -> tuple[Callable[[Any], None], Callable[[Any], None]]:
    """(check for a registered object, check for a built object) for components of ``base``."""

    def check(obj: Any) -> None:
        if inspect.isclass(obj):
            if not issubclass(obj, base):
                raise TypeError(
                    f"{obj.__module__}.{obj.__qualname__} is not a subclass of realiisr {base.__name__}"
                )
        elif not inspect.isfunction(obj):
            raise TypeError(
                f"expected a {base.__name__} subclass or a factory function, got {type(obj).__name__} {obj!r}"
            )

    def check_built(obj: Any) -> None:
        if not isinstance(obj, base):
            raise TypeError(f"expected a realiisr {base.__name__} instance, got {type(obj).__name__}")

    return check, check_built
