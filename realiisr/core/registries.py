"""The registry instances. Builtins live in the listed packages and are imported on first lookup."""
from __future__ import annotations

from realiisr.core._registry import Registry
from realiisr.core.interfaces import (
    Codebook,
    Generator,
    Guidance,
    PhysicsLoss,
    Tokenizer,
    component_checks,
)
from realiisr.core.recipes import RECIPES

__all__ = [
    "TOKENIZERS",
    "CODEBOOKS",
    "GUIDANCE",
    "GENERATORS",
    "PHYSICS_LOSSES",
    "RECIPES",
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


TOKENIZERS = _component_registry("tokenizer", Tokenizer, "tokenizers", "realiisr.tokenizers")
CODEBOOKS = _component_registry("codebook", Codebook, "codebooks", "realiisr.codebooks")
GUIDANCE = _component_registry("guidance", Guidance, "guidance", "realiisr.guidance")
GENERATORS = _component_registry("generator", Generator, "generators", "realiisr.generators")
PHYSICS_LOSSES = _component_registry(
    "physics loss", PhysicsLoss, "physics_losses", "realiisr.losses"
)

#: Every registry by the name used in recipes and in ``realiisr info``.
REGISTRIES: dict[str, Registry] = {
    "tokenizer": TOKENIZERS,
    "codebook": CODEBOOKS,
    "guidance": GUIDANCE,
    "generator": GENERATORS,
    "physics_loss": PHYSICS_LOSSES,
    "recipe": RECIPES,
}
