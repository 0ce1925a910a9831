"""Upscaling methods by name, for the benchmark: what users would run instead of (or beside) a Real-IISR model.

A method is a callable ``[1, h, w]`` LR in [0, 1] → ``[1, h·4, w·4]`` in [0, 1]. Names resolve, in order, to

- a registered method (:data:`METHODS`: ``bicubic`` and ``lanczos`` built in; plugins add more through the
  ``realiisr.methods`` entry-point group, name → a factory returning the callable, imported only when asked for);
- a recipe that ships weights (e.g. ``real_iisr_x4_flir``), run through the tiled upscaler;
- ``RECIPE.yaml:WEIGHTS``, a recipe file and its weights (a user's training run).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

from torch import Tensor

from realiisr.core._registry import Registry

__all__ = ["METHODS", "Method", "resolve_method", "list_methods"]

Method = Callable[[Tensor], Tensor]

METHODS = Registry("method", entry_point_group="realiisr.methods", locations=("realiisr.methods.interpolation",))


def list_methods() -> list[str]:
    """Registered method names and the recipes that ship weights."""
    from realiisr.core.recipes import list_recipes

    return sorted(set(METHODS.names()) | set(list_recipes(pretrained=True)))


def resolve_method(name: str, *, dtype: str = "auto", device: Optional[str] = None) -> Method:
    """The callable behind ``name`` (see the module doc); ``dtype`` and ``device`` apply to recipe models.

    Raises:
        ValueError: the name is none of the three kinds (the known ones listed).
    """
    if name in METHODS:
        return METHODS.get(name)()
    import realiisr
    from realiisr.core.recipes import list_recipes
    from realiisr.inference import Upscaler

    if ":" in name and name.split(":", 1)[0].endswith((".yaml", ".yml")):
        recipe, weights = name.split(":", 1)
        if not Path(recipe).is_file() or not Path(weights).is_file():
            raise ValueError(f"method {name!r}: {recipe if not Path(recipe).is_file() else weights} does not exist")
        model = realiisr.build(recipe, weights=weights).eval()
    elif name in list_recipes(pretrained=True):
        model = realiisr.build(name, pretrained=True).eval()
    else:
        raise ValueError(f"unknown method {name!r}; known: {', '.join(list_methods())}, or RECIPE.yaml:WEIGHTS")
    if device is not None:
        model = model.to(device)
    upscaler = Upscaler(model, dtype=dtype)
    return lambda lr: upscaler(lr).clamp(0, 1)
