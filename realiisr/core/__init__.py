"""Registries, entry-point plugins, recipes and the model builder."""
from realiisr.core._plugins import PluginInfo, PluginLoadError
from realiisr.core._registry import Entry, Registry, RegistryError, UnknownNameError
from realiisr.core.build import build
from realiisr.model import RealIISR
from realiisr.core.recipes import (
    ComponentSpec,
    Recipe,
    RecipeError,
    WeightsSpec,
    apply_overrides,
    get_recipe,
    list_recipes,
    register_recipe,
)
from realiisr.core.registries import (
    CODEBOOKS,
    GENERATORS,
    GUIDANCE,
    PHYSICS_LOSSES,
    RECIPES,
    REGISTRIES,
    TOKENIZERS,
)

__all__ = [
    "CODEBOOKS",
    "ComponentSpec",
    "Entry",
    "GENERATORS",
    "GUIDANCE",
    "PHYSICS_LOSSES",
    "PluginInfo",
    "PluginLoadError",
    "RECIPES",
    "REGISTRIES",
    "RealIISR",
    "Recipe",
    "RecipeError",
    "Registry",
    "RegistryError",
    "TOKENIZERS",
    "UnknownNameError",
    "WeightsSpec",
    "apply_overrides",
    "build",
    "get_recipe",
    "list_components",
    "list_recipes",
    "register_recipe",
]


def list_components(kind: str, pattern: str = "*") -> list[str]:
    """Names in one registry (``tokenizer``, ``codebook``, ``guidance``, ``generator``, ``physics_loss``)."""
    if kind not in REGISTRIES:
        raise RegistryError(f"unknown component kind {kind!r}; kinds: {sorted(REGISTRIES)}")
    return REGISTRIES[kind].names(pattern)
