"""``realiisr.build``: recipe → components (through the registries) → :class:`RealIISR`."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Optional, Union

import torch

from realiisr.core._registry import Registry, UnknownNameError
from realiisr.model import RealIISR
from realiisr.core.recipes import COMPONENT_FIELDS, Recipe, resolve_recipe
from realiisr.core.registries import PHYSICS_LOSSES, REGISTRIES
from realiisr.core.weights import WeightsError, load_into, load_state_dict_file

__all__ = ["build", "build_component"]


def build_component(registry: Registry, spec: Any, *, recipe: str, field: str) -> Any:
    """Build one component, turning a missing name into an error that says which recipe field needs it."""
    try:
        return registry.build(spec)
    except UnknownNameError as exc:
        raise UnknownNameError(
            f"recipe {recipe!r} field {field!r} needs {registry.kind} {spec.type!r}, which is not available: {exc}"
        ) from exc


def build(
    recipe: Union[str, Recipe, Mapping[str, Any], Path] = "real_iisr_x4",
    /,
    *,
    pretrained: bool = False,
    weights: Union[str, Path, None] = None,
    device: Union[str, torch.device, None] = None,
    dtype: Optional[torch.dtype] = None,
    overrides: Optional[Mapping[str, Any]] = None,
    **kw_overrides: Any,
) -> RealIISR:
    """Build a model from a recipe.

    Args:
        recipe: a registered recipe name, a :class:`Recipe`, a mapping or a YAML file.
        pretrained: load the recipe's shipped weights (hash-checked safetensors).
        weights: load this safetensors file instead.
        device, dtype: where the built model lives (CPU float32 by default).
        overrides / **kw_overrides: dotted-key recipe overrides, e.g. ``{"generator.depth": 4}`` or
            ``guidance="my_plugin:edge_only"``; see :func:`realiisr.core.recipes.apply_overrides`.

    Returns:
        The model, with the fully resolved recipe as ``model.recipe``.

    Example:
        >>> model = realiisr.build("real_iisr_x4_tiny", **{"generator.depth": 2})  # doctest: +SKIP
    """
    merged = {**dict(overrides or {}), **kw_overrides}
    resolved = resolve_recipe(recipe, merged)
    components = {
        field: build_component(REGISTRIES[field], getattr(resolved, field), recipe=resolved.name, field=field)
        for field in COMPONENT_FIELDS
    }
    losses = {
        name: build_component(PHYSICS_LOSSES, spec, recipe=resolved.name, field=f"losses.{name}")
        for name, spec in resolved.losses.items()
    }
    model = RealIISR(resolved, losses=losses, **components)
    if pretrained or weights is not None:
        _load_weights(model, resolved, weights)
    if device is not None or dtype is not None:
        model = model.to(device=device, dtype=dtype)
    return model


def _load_weights(model: RealIISR, recipe: Recipe, weights: Union[str, Path, None]) -> None:
    sha256 = None
    if weights is None:
        spec = recipe.weights
        if spec is None or not spec.file:
            raise WeightsError(f"recipe {recipe.name!r} ships no weights; pass weights=PATH")
        path = Path(spec.file)
        if not path.is_absolute():
            path = Path(__file__).resolve().parent.parent / "weights" / path
        weights, sha256 = path, spec.sha256
    state = load_state_dict_file(weights, sha256=sha256)
    load_into(model, state, what=f"weights {str(weights)!r}")


