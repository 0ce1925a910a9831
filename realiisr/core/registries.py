"""The registry instances. Builtins live in the listed packages and are imported on first lookup."""
from __future__ import annotations

from typing import Any

from realiisr.core._registry import Registry
from realiisr.core.interfaces import (
    Codebook,
    Generator,
    Guidance,
    PhysicsLoss,
    Tokenizer,
    component_checks,
)

__all__ = [
    "TOKENIZERS",
    "CODEBOOKS",
    "GUIDANCE",
    "GENERATORS",
    "PHYSICS_LOSSES",
    "RECIPES",
    "DEGRADATIONS",
    "REGISTRIES",
]


def _component_registry(kind: str, base: type, group: str, location: str) -> Registry:
    check, check_built = component_checks(base)
    return Registry(
        kind,
        check=check,
        check_built=check_built,
        entry_point_group=f"realiisr.{group}",
        locations=(location,),
    )


def _check_recipe(obj: Any) -> None:
    from realiisr.core.recipes import Recipe

    if not isinstance(obj, Recipe):
        raise TypeError(f"expected a realiisr Recipe, got {type(obj).__name__}")


TOKENIZERS = _component_registry("tokenizer", Tokenizer, "tokenizers", "realiisr.tokenizers")
CODEBOOKS = _component_registry("codebook", Codebook, "codebooks", "realiisr.codebooks")
GUIDANCE = _component_registry("guidance", Guidance, "guidance", "realiisr.guidance")
GENERATORS = _component_registry("generator", Generator, "generators", "realiisr.generators")
PHYSICS_LOSSES = _component_registry(
    "physics loss", PhysicsLoss, "physics_losses", "realiisr.losses"
)
def _check_degradation(obj: Any) -> None:
    from realiisr.data.degradations import Degradation

    if not (isinstance(obj, type) and issubclass(obj, Degradation)):
        raise TypeError(f"expected a realiisr Degradation subclass, got {obj!r}")


DEGRADATIONS = Registry(
    "degradation",
    check=_check_degradation,
    entry_point_group="realiisr.degradations",
    locations=("realiisr.data.degradations",),
)
RECIPES = Registry(
    "recipe", check=_check_recipe, entry_point_group="realiisr.recipes", locations=("realiisr.recipes",)
)

#: Every registry by the name used in recipes and in ``realiisr info``.
REGISTRIES: dict[str, Registry] = {
    "tokenizer": TOKENIZERS,
    "codebook": CODEBOOKS,
    "guidance": GUIDANCE,
    "generator": GENERATORS,
    "physics_loss": PHYSICS_LOSSES,
    "recipe": RECIPES,
    "degradation": DEGRADATIONS,
}
