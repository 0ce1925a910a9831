"""``key=value`` arguments of the training commands: training options or recipe keys."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Optional, Sequence

import yaml

__all__ = ["parse_value", "split_overrides"]


def parse_value(text: str) -> Any:
    """A YAML scalar or list; ``4e-4`` is a float (YAML 1.1 reads it as a string)."""
    value = yaml.safe_load(text)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def split_overrides(items: Sequence[str], config_file: Optional[Path] = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """``key=value`` items (after the YAML file's entries) → (training options, recipe overrides)."""
    from realiisr.training.loop import TrainConfig

    options: dict[str, Any] = {}
    if config_file is not None:
        options.update(yaml.safe_load(Path(config_file).read_text()) or {})
    for item in items:
        if "=" not in item:
            raise ValueError(f"override {item!r} is not key=value")
        key, value = item.split("=", 1)
        options[key] = parse_value(value)
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    return ({k: v for k, v in options.items() if k in fields}, {k: v for k, v in options.items() if k not in fields})
