"""Entry-point plugin discovery: metadata only, loading one plugin at a time.

A plugin distribution declares components in ``[project.entry-points."realiisr.<kind>"]``; the entry-point
name is the component name and the value ``module:Object`` is the component itself. Discovery reads the
installed distributions' metadata and never imports plugin code; :func:`load_plugin` imports exactly one
entry point and turns every failure into a recorded :class:`PluginInfo` status instead of an exception
that could break ``import realiisr`` (xarray's and pluggy's lessons, see the framework brief §2).
"""
from __future__ import annotations

import importlib.metadata as metadata
import logging
import os
import re
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

__all__ = [
    "PluginInfo",
    "PluginLoadError",
    "discover_group",
    "load_plugin",
    "normalize_dist_name",
    "plugins_disabled",
    "blocked_plugins",
]

_LOG = logging.getLogger(__name__)

DISABLE_ENV = "REALIISR_DISABLE_PLUGINS"
BLOCK_ENV = "REALIISR_PLUGINS_BLOCK"


class PluginLoadError(ImportError):
    """A plugin that provides the requested name could not be loaded; ``info`` says which and why."""

    def __init__(self, message: str, info: "PluginInfo") -> None:
        super().__init__(message)
        self.info = info


@dataclass
class PluginInfo:
    """One entry point of one distribution, and what happened to it."""

    group: str
    name: str
    value: str
    dist: str
    version: str
    # discovered | loaded | failed | blocked | shadowed | ambiguous
    status: str = "discovered"
    error: Optional[str] = None
    _entry_point: Any = field(default=None, repr=False, compare=False)
    _object: Any = field(default=None, repr=False, compare=False)

    @property
    def qualified_name(self) -> str:
        return f"{normalize_dist_name(self.dist)}:{self.name}"

    @property
    def source(self) -> str:
        return f"plugin {self.dist}=={self.version}"


def normalize_dist_name(name: str) -> str:
    """PEP 503-style normalisation with underscores, so ``My-Plugin`` and ``my_plugin`` are one prefix."""
    return re.sub(r"[-_.]+", "_", name).lower()


def _truthy(value: Optional[str]) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def plugins_disabled() -> bool:
    """``REALIISR_DISABLE_PLUGINS=1`` turns entry-point discovery off entirely."""
    return _truthy(os.environ.get(DISABLE_ENV))


def blocked_plugins() -> frozenset[str]:
    """Names from ``REALIISR_PLUGINS_BLOCK``: component names, qualified names or distribution names."""
    raw = os.environ.get(BLOCK_ENV, "")
    names = set()
    for item in raw.split(","):
        item = item.strip()
        if not item:
            continue
        if ":" in item:
            dist, _, short = item.partition(":")
            names.add(f"{normalize_dist_name(dist)}:{short}")
        else:  # a component name or a distribution name
            names.update({item, normalize_dist_name(item)})
    return frozenset(names)


def _is_blocked(info: PluginInfo, blocked: frozenset[str]) -> bool:
    return bool({info.name, info.qualified_name, normalize_dist_name(info.dist)} & blocked)


def discover_group(group: str) -> list[PluginInfo]:
    """All entry points of ``group``, sorted by (name, distribution); reads metadata only.

    The same distribution seen twice on ``sys.path`` (an editable install next to a wheel, say) yields one
    entry. Blocked plugins are returned with status ``blocked`` so diagnostics can show them.
    """
    if plugins_disabled():
        return []
    blocked = blocked_plugins()
    seen: dict[tuple[str, str, str], PluginInfo] = {}
    try:
        entry_points = metadata.entry_points(group=group)
    except Exception as exc:  # a corrupt METADATA file elsewhere must not break us
        _LOG.warning("could not read entry points of group %s: %s", group, exc)
        return []
    for ep in entry_points:
        dist = getattr(ep, "dist", None)
        dist_name = dist.metadata["Name"] if dist is not None and dist.metadata["Name"] else "unknown"
        version = dist.version if dist is not None else "unknown"
        key = (normalize_dist_name(dist_name), ep.name, ep.value)
        if key in seen:
            continue
        info = PluginInfo(group, ep.name, ep.value, dist_name, version, _entry_point=ep)
        if _is_blocked(info, blocked):
            info.status = "blocked"
        seen[key] = info
    return sorted(seen.values(), key=lambda p: (p.name, normalize_dist_name(p.dist), p.value))


def load_plugin(info: PluginInfo, check: Optional[Callable[[Any], None]] = None) -> Any:
    """Import one plugin's object; on failure record it, warn once and raise :class:`PluginLoadError`.

    ``check`` validates the loaded object (a wrong kind of object is a failed plugin, not a crash later).
    """
    if info.status == "loaded":
        return info._object
    if info.status == "failed":
        raise PluginLoadError(_failure_message(info), info)
    if info.status == "blocked":
        raise PluginLoadError(
            f"plugin {info.qualified_name} ({info.source}) is blocked by {BLOCK_ENV}", info
        )
    try:
        obj = info._entry_point.load()
        if check is not None:
            check(obj)
    except Exception as exc:
        info.status = "failed"
        info.error = f"{type(exc).__name__}: {exc}"
        message = _failure_message(info)
        warnings.warn(message, RuntimeWarning, stacklevel=3)
        raise PluginLoadError(message, info) from exc
    info.status = "loaded"
    info._object = obj
    return obj


def _failure_message(info: PluginInfo) -> str:
    return (
        f"plugin {info.qualified_name} = {info.value!r} from {info.source} "
        f"(entry-point group {info.group!r}) failed to load: {info.error}"
    )
