"""Recipes: a model configuration as plain data (components as ``{type, kwargs}``, loss weights, weights).

A recipe names registered components; it holds no code. ``realiisr.build`` turns one into a module, and
the module keeps the resolved recipe so a checkpoint always says how it was made.
"""
from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

from realiisr.core._registry import Registry, RegistryError

__all__ = [
    "ComponentSpec",
    "WeightsSpec",
    "Recipe",
    "RecipeError",
    "COMPONENT_FIELDS",
    "register_recipe",
    "get_recipe",
    "list_recipes",
    "apply_overrides",
    "resolve_recipe",
]

#: Recipe fields that name one registered component each, with the registry they come from.
COMPONENT_FIELDS = ("tokenizer", "codebook", "guidance", "generator")


class RecipeError(RegistryError, ValueError):
    """A malformed recipe or an override that does not fit it."""


@dataclass(frozen=True)
class ComponentSpec:
    """One component: a registered name (``type``) and its keyword arguments."""

    type: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_value(cls, value: Any, where: str) -> "ComponentSpec":
        """Accept a name, ``{"type": t, "kwargs": {...}}`` or the flat ``{"type": t, **kwargs}`` form."""
        if isinstance(value, ComponentSpec):
            return value
        if isinstance(value, str):
            return cls(value, {})
        if isinstance(value, Mapping):
            mapping = dict(value)
            if "type" not in mapping or not isinstance(mapping["type"], str):
                raise RecipeError(f"{where}: a component needs a 'type' string, got {value!r}")
            name = mapping.pop("type")
            kwargs = dict(mapping.pop("kwargs", None) or {})
            kwargs.update(mapping)
            return cls(name, kwargs)
        raise RecipeError(f"{where}: expected a component name or mapping, got {type(value).__name__}")

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "kwargs": _plain(self.kwargs)}


@dataclass(frozen=True)
class WeightsSpec:
    """Where a recipe's trained weights are and how to verify them (safetensors only)."""

    file: Optional[str] = None
    sha256: Optional[str] = None
    url: Optional[str] = None
    description: str = ""

    @property
    def has_weights(self) -> bool:
        return bool(self.file or self.url)


@dataclass(frozen=True)
class Recipe:
    """A complete model configuration.

    Attributes:
        name: registry name, snake_case.
        scale: super-resolution factor.
        tokenizer, codebook, guidance, generator: the components.
        losses: named physics losses (the generator's cross-entropy is implicit and weighted as ``ce``).
        loss_weights: weight per loss name, ``ce`` included.
        weights: trained weights, if any.
        options: model-level behaviour switches (e.g. ``pixel_loss_path``), see :class:`RealIISR`.
        meta: free-form data (paper, notes, reference constructor arguments).
    """

    name: str
    scale: int
    tokenizer: ComponentSpec
    codebook: ComponentSpec
    guidance: ComponentSpec
    generator: ComponentSpec
    losses: Mapping[str, ComponentSpec] = field(default_factory=dict)
    loss_weights: Mapping[str, float] = field(default_factory=dict)
    weights: Optional[WeightsSpec] = None
    description: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.scale, int) or self.scale < 1:
            raise RecipeError(f"recipe {self.name!r}: scale must be a positive int, got {self.scale!r}")
        unknown = set(self.loss_weights) - set(self.losses) - {"ce"}
        if unknown:
            raise RecipeError(
                f"recipe {self.name!r}: loss_weights names {sorted(unknown)} that are not in losses "
                f"{sorted(self.losses)} (nor 'ce')"
            )

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "scale": self.scale}
        for key in COMPONENT_FIELDS:
            out[key] = getattr(self, key).to_dict()
        out["losses"] = {k: v.to_dict() for k, v in self.losses.items()}
        out["loss_weights"] = {k: float(v) for k, v in self.loss_weights.items()}
        out["weights"] = None if self.weights is None else dataclasses.asdict(self.weights)
        out["description"] = self.description
        out["options"] = _plain(self.options)
        out["meta"] = _plain(self.meta)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Recipe":
        data = dict(data)
        name = data.get("name", "<unnamed>")
        allowed = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - allowed
        if unknown:
            raise RecipeError(f"recipe {name!r}: unknown fields {sorted(unknown)}; allowed: {sorted(allowed)}")
        missing = {"name", "scale", *COMPONENT_FIELDS} - set(data)
        if missing:
            raise RecipeError(f"recipe {name!r}: missing fields {sorted(missing)}")
        for key in COMPONENT_FIELDS:
            data[key] = ComponentSpec.from_value(data[key], f"recipe {name!r} field {key!r}")
        data["losses"] = {
            k: ComponentSpec.from_value(v, f"recipe {name!r} loss {k!r}")
            for k, v in dict(data.get("losses") or {}).items()
        }
        data["loss_weights"] = {k: float(v) for k, v in dict(data.get("loss_weights") or {}).items()}
        weights = data.get("weights")
        if isinstance(weights, Mapping):
            data["weights"] = WeightsSpec(**weights)
        data["options"] = copy.deepcopy(dict(data.get("options") or {}))
        data["meta"] = copy.deepcopy(dict(data.get("meta") or {}))
        return cls(**data)

    def to_yaml(self, path: Union[str, Path, None] = None) -> str:
        import yaml

        text = yaml.safe_dump(self.to_dict(), sort_keys=False)
        if path is not None:
            Path(path).write_text(text)
        return text

    @classmethod
    def from_yaml(cls, text_or_path: Union[str, Path]) -> "Recipe":
        import yaml

        path = Path(text_or_path) if not isinstance(text_or_path, str) or "\n" not in text_or_path else None
        if path is not None and path.suffix in (".yaml", ".yml"):
            if not path.is_file():
                raise RecipeError(f"recipe file {str(path)!r} does not exist")
            text = path.read_text()
        else:
            text = str(text_or_path)
        data = yaml.safe_load(text)
        if not isinstance(data, Mapping):
            raise RecipeError(f"recipe YAML must be a mapping, got {type(data).__name__}")
        return cls.from_dict(data)

    def replace(self, **overrides: Any) -> "Recipe":
        """A copy with dotted-key overrides applied (see :func:`apply_overrides`)."""
        return apply_overrides(self, overrides)


def _check_recipe(obj: Any) -> None:
    if not isinstance(obj, Recipe):
        raise TypeError(f"expected a realiisr Recipe, got {type(obj).__name__}")


#: Registered recipes (builtins in :mod:`realiisr.recipes`, plugins through ``realiisr.recipes`` entry points).
RECIPES = Registry("recipe", check=_check_recipe, entry_point_group="realiisr.recipes", locations=("realiisr.recipes",))


def _plain(value: Any) -> Any:
    """Tuples to lists and mappings to dicts, so recipes compare equal after a YAML round trip."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


# ---------------------------------------------------------------------- overrides
def _set_path(target: dict[str, Any], path: Sequence[str], value: Any) -> None:
    for part in path[:-1]:
        nxt = target.get(part)
        if not isinstance(nxt, dict):
            nxt = {}
            target[part] = nxt
        target = nxt
    target[path[-1]] = value


def _apply_component(spec: dict[str, Any], path: Sequence[str], value: Any) -> dict[str, Any]:
    """Apply one override below a component (``spec`` is its ``{type, kwargs}`` dict)."""
    if not path:
        if isinstance(value, str):  # a swap: the old kwargs belong to the old type
            return {"type": value, "kwargs": {}}
        if isinstance(value, ComponentSpec) or (isinstance(value, Mapping) and "type" in value):
            return ComponentSpec.from_value(value, "override").to_dict()
        if isinstance(value, Mapping):  # nested mapping: merge into kwargs
            for key, sub in value.items():
                spec = _apply_component(spec, key.split("."), sub)
            return spec
        raise RecipeError(f"a component override must be a name or a mapping, got {value!r}")
    if path[0] == "type" and len(path) == 1:
        spec["type"] = value
    elif path[0] == "kwargs":
        _set_path(spec.setdefault("kwargs", {}), path[1:], value)
    else:
        _set_path(spec.setdefault("kwargs", {}), path, value)
    return spec


def apply_overrides(recipe: Recipe, overrides: Optional[Mapping[str, Any]] = None) -> Recipe:
    """Apply overrides to a recipe and return the new one.

    Keys are dotted paths: ``"generator.depth": 4`` sets a keyword argument,
    ``"guidance": "my_plugin:edge_only"`` swaps a component (dropping the old kwargs),
    ``"generator.type": "var2"`` swaps the type but keeps the kwargs,
    ``"losses.toc.threshold": 0.2``, ``"loss_weights.toc": 0`` and ``"scale": 2`` do what they say.
    A nested mapping without ``type`` (``"generator": {"depth": 4}``) merges into the kwargs.
    """
    if not overrides:
        return Recipe.from_dict(recipe.to_dict())
    data = recipe.to_dict()
    for key, value in overrides.items():
        path = key.split(".")
        head, rest = path[0], path[1:]
        if head in COMPONENT_FIELDS:
            data[head] = _apply_component(data[head], rest, value)
        elif head == "losses" and rest:
            current = data["losses"].get(rest[0])
            if current is None and len(rest) > 1:
                raise RecipeError(
                    f"override {key!r}: recipe {recipe.name!r} has no loss {rest[0]!r}; "
                    f"losses: {sorted(data['losses'])}"
                )
            if value is None and len(rest) == 1:
                data["losses"].pop(rest[0], None)
                data["loss_weights"].pop(rest[0], None)
                continue
            data["losses"][rest[0]] = _apply_component(dict(current or {}), rest[1:], value)
        elif head in ("loss_weights", "options", "meta", "weights") and rest:
            if data.get(head) is None:
                data[head] = {}
            _set_path(data[head], rest, value)
        elif head in {f.name for f in dataclasses.fields(Recipe)} and not rest:
            data[head] = _plain(value) if not isinstance(value, Recipe) else value
        else:
            raise RecipeError(
                f"override {key!r} does not fit recipe {recipe.name!r}: the first part must be one of "
                f"{sorted(f.name for f in dataclasses.fields(Recipe))}"
            )
    return Recipe.from_dict(data)


# ---------------------------------------------------------------------- registry helpers
def register_recipe(recipe: Recipe, *, override: bool = False, _builtin: bool = False) -> Recipe:
    """Register a recipe under ``recipe.name``."""
    RECIPES.register(recipe, name=recipe.name, override=override, source="builtin" if _builtin else "user")
    return recipe


def get_recipe(name: str) -> Recipe:
    """A copy of the registered recipe ``name`` (so callers cannot change the registry by accident)."""
    recipe = RECIPES.get(name)
    return Recipe.from_dict(recipe.to_dict())


def list_recipes(pattern: Union[str, Sequence[str]] = "*", *, pretrained: bool = False) -> list[str]:
    """Registered recipe names matching ``pattern``; ``pretrained=True`` keeps those that ship weights."""
    names = RECIPES.names(pattern)
    if pretrained:
        names = [n for n in names if _has_weights(n)]
    return names


def _has_weights(name: str) -> bool:
    try:
        recipe = RECIPES.get(name)
    except Exception:
        return False
    return recipe.weights is not None and recipe.weights.has_weights


def resolve_recipe(
    recipe: Union[str, Recipe, Mapping[str, Any], Path], overrides: Optional[Mapping[str, Any]] = None
) -> Recipe:
    """A name, a Recipe, a mapping or a YAML path → the recipe with ``overrides`` applied."""
    if isinstance(recipe, Recipe):
        base = recipe
    elif isinstance(recipe, Mapping):
        base = Recipe.from_dict(recipe)
    elif isinstance(recipe, Path) or (isinstance(recipe, str) and recipe.endswith((".yaml", ".yml"))):
        base = Recipe.from_yaml(Path(recipe))
    elif isinstance(recipe, str):
        base = get_recipe(recipe)
    else:
        raise RecipeError(f"expected a recipe name, Recipe, mapping or YAML path, got {type(recipe).__name__}")
    return apply_overrides(base, overrides)


def recipe_for_weights(recipe: Union[str, Path, None], weights: Optional[Path]) -> Recipe:
    """The recipe an inference command runs: ``recipe`` (default: the first that ships weights) resolved, and
    checked to ship weights unless ``weights`` gives a file.

    Raises:
        RecipeError: no recipe ships weights, or the chosen one ships none and no ``weights`` file was given.
    """
    if recipe is None:
        shipped = list_recipes(pretrained=True)
        if not shipped:
            raise RecipeError("no recipe ships trained weights; pass --recipe NAME --weights PATH")
        recipe = shipped[0]
    resolved = resolve_recipe(recipe)
    if weights is None and (resolved.weights is None or not resolved.weights.has_weights):
        raise RecipeError(f"recipe {str(recipe)!r} ships no trained weights; pass --weights PATH")
    return resolved
