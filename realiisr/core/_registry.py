"""A small generic registry: explicit snake_case names, aliases, lazy builtins and entry-point plugins.

Name resolution, in order: a builtin or user-registered name (or alias); a qualified plugin name
``<distribution>:<name>``; a short plugin name that exactly one plugin provides. Builtins always win a
collision, and a plugin is imported only when one of its names is asked for.
"""
from __future__ import annotations

import contextlib
import dataclasses
import difflib
import fnmatch
import importlib
import re
import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Optional, Sequence, Union

from realiisr.core._plugins import (
    BLOCK_ENV,
    DISABLE_ENV,
    PluginInfo,
    PluginLoadError,
    discover_group,
    load_plugin,
    normalize_dist_name,
    plugins_disabled,
)

__all__ = ["Registry", "RegistryError", "UnknownNameError", "Entry"]

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


class RegistryError(Exception):
    """Misuse of a registry: a taken name, an invalid name or object, an ambiguous plugin name."""


class UnknownNameError(RegistryError, KeyError):
    """No component of that name; the message lists close matches and failed plugins."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class Entry:
    """What a registry knows about one name (``source`` is ``builtin``, ``user`` or ``plugin dist==ver``)."""

    name: str
    kind: str
    source: str
    target: Any = field(repr=False)
    aliases: tuple[str, ...] = ()
    meta: Mapping[str, Any] = field(default_factory=dict)


def _natural_key(name: str) -> list[Any]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name.lower())]


def _source_of(obj: Any) -> str:
    module = getattr(obj, "__module__", "") or ""
    return "builtin" if module == "realiisr" or module.startswith("realiisr.") else "user"


class Registry:
    """Components of one kind (``guidance``, ``codebook``, ...).

    Args:
        kind: singular noun used in messages.
        check: validates an object before it is registered or accepted from a plugin; raises TypeError.
        check_built: validates what :meth:`build` produced.
        entry_point_group: the ``importlib.metadata`` group plugins register in.
        locations: builtin modules imported on the first lookup (explicit, instead of folder scanning).
    """

    def __init__(
        self,
        kind: str,
        *,
        check: Optional[Callable[[Any], None]] = None,
        check_built: Optional[Callable[[Any], None]] = None,
        entry_point_group: Optional[str] = None,
        locations: Sequence[str] = (),
    ) -> None:
        self.kind = kind
        self.entry_point_group = entry_point_group
        self._check = check
        self._check_built = check_built
        self._locations = tuple(locations)
        self._entries: dict[str, Entry] = {}
        self._aliases: dict[str, str] = {}
        self._plugins: Optional[list[PluginInfo]] = None
        self._builtins_imported = False

    # ------------------------------------------------------------------ registration
    def register(
        self,
        obj: Any = None,
        *,
        name: Optional[str] = None,
        aliases: Sequence[str] = (),
        override: bool = False,
        source: Optional[str] = None,
        **meta: Any,
    ) -> Any:
        """Register ``obj`` under ``name``; usable as ``@REG.register(name=...)`` or ``REG.register(obj, name=...)``.

        ``source`` (``builtin`` or ``user``) defaults to where the object was defined; data objects such
        as recipes pass it explicitly.

        Raises:
            RegistryError: the name (or an alias) is taken and ``override`` is false, or it is not snake_case.
            TypeError: the object is not a valid component of this kind.
        """
        if obj is None:
            return lambda target: self.register(
                target, name=name, aliases=aliases, override=override, source=source, **meta
            )
        name = name or getattr(obj, "__name__", None)
        names = (name, *aliases)
        for candidate in names:
            if not isinstance(candidate, str) or not _NAME_RE.match(candidate):
                raise RegistryError(
                    f"{self.kind} name {candidate!r} is not snake_case (lowercase letters, digits, '_')"
                )
        if self._check is not None:
            self._check(obj)
        if not override:
            for candidate in names:
                if candidate in self._entries or candidate in self._aliases:
                    owner = self._aliases.get(candidate, candidate)
                    raise RegistryError(
                        f"{self.kind} name {candidate!r} is already registered "
                        f"(by {self._entries[owner].source} {owner!r}); pass override=True to replace it"
                    )
        else:
            for candidate in names:
                self._drop(candidate)
        entry = Entry(name, self.kind, source or _source_of(obj), obj, tuple(aliases), dict(meta))
        self._entries[name] = entry
        for alias in aliases:
            self._aliases[alias] = name
        self._refresh_plugin_status()
        return obj

    def _drop(self, name: str) -> None:
        owner = self._aliases.pop(name, None)
        if owner is None and name in self._entries:
            for alias in self._entries.pop(name).aliases:
                self._aliases.pop(alias, None)

    def unregister(self, name: str) -> None:
        """Remove a builtin or user entry (and its aliases)."""
        if name not in self._entries:
            raise UnknownNameError(f"no {self.kind} named {name!r} to unregister")
        self._drop(name)
        self._refresh_plugin_status()

    # ------------------------------------------------------------------ plugins
    def _ensure_builtins(self) -> None:
        if self._builtins_imported:
            return
        self._builtins_imported = True
        for module in self._locations:
            importlib.import_module(module)

    def plugins(self) -> list[PluginInfo]:
        """Every discovered plugin entry of this registry's group (metadata only, cached)."""
        if self._plugins is None:
            found = discover_group(self.entry_point_group) if self.entry_point_group else []
            self._plugins = found
            self._refresh_plugin_status(warn=True)
        return self._plugins

    def _refresh_plugin_status(self, warn: bool = False) -> None:
        if self._plugins is None:
            return
        counts = Counter(i.name for i in self._plugins if i.status != "blocked")
        for info in self._plugins:
            if info.status in ("blocked", "failed", "loaded"):
                continue
            if info.name in self._entries or info.name in self._aliases:
                status = "shadowed"
            elif counts[info.name] > 1:
                status = "ambiguous"
            else:
                status = "discovered"
            if warn and status == "shadowed":
                owner = self._entries[self._aliases.get(info.name, info.name)]
                warnings.warn(
                    f"plugin {info.qualified_name} ({info.source}) has the same name as the "
                    f"{owner.source} {self.kind} {info.name!r}; the builtin wins, the plugin stays "
                    f"reachable as {info.qualified_name!r}",
                    RuntimeWarning,
                    stacklevel=4,
                )
            info.status = status

    def _display_name(self, info: PluginInfo) -> str:
        """The short name where it resolves to this plugin alone, else the qualified name."""
        unique = sum(p.name == info.name and p.status != "blocked" for p in self.plugins()) == 1
        local = info.name in self._entries or info.name in self._aliases
        return info.name if unique and not local else info.qualified_name

    def refresh(self) -> None:
        """Forget discovered plugins (after installing one, or in tests)."""
        self._plugins = None

    def _find_plugin(self, name: str) -> Optional[PluginInfo]:
        if ":" in name:
            dist, _, short = name.partition(":")
            dist = normalize_dist_name(dist)
            for info in self.plugins():
                if normalize_dist_name(info.dist) == dist and info.name == short:
                    return info
            return None
        candidates = [i for i in self.plugins() if i.name == name and i.status != "shadowed"]
        live = [i for i in candidates if i.status != "blocked"]
        if len(live) > 1:
            options = ", ".join(repr(i.qualified_name) for i in live)
            raise RegistryError(
                f"{self.kind} name {name!r} is ambiguous: plugins {options} all provide it; "
                "ask for one by its qualified name"
            )
        if live:
            return live[0]
        return candidates[0] if candidates else None

    def _load(self, info: PluginInfo) -> Any:
        return load_plugin(info, self._check)

    def load_all(self) -> list[PluginInfo]:
        """Import every plugin of this registry (for diagnostics); failures are recorded, never raised."""
        for info in self.plugins():
            if info.status != "blocked":
                with contextlib.suppress(PluginLoadError), warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    self._load(info)
        return self.plugins()

    # ------------------------------------------------------------------ lookup
    def get(self, name: str) -> Any:
        """The registered object for ``name``.

        Raises:
            UnknownNameError: nothing provides ``name`` (the message suggests close matches).
            PluginLoadError: the plugin providing ``name`` failed to import or is invalid.
            RegistryError: several plugins provide the short name ``name``.
        """
        self._ensure_builtins()
        canonical = self._aliases.get(name, name)
        if canonical in self._entries:
            return self._entries[canonical].target
        info = self._find_plugin(name)
        if info is None:
            raise UnknownNameError(self._miss_message(name))
        return self._load(info)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        self._ensure_builtins()
        if name in self._entries or name in self._aliases:
            return True
        try:
            info = self._find_plugin(name)
        except RegistryError:
            return True
        return info is not None and info.status != "blocked"

    def describe(self, name: str) -> Entry:
        """The :class:`Entry` for a name without importing plugin code."""
        self._ensure_builtins()
        canonical = self._aliases.get(name, name)
        if canonical in self._entries:
            return self._entries[canonical]
        info = self._find_plugin(name)
        if info is None:
            raise UnknownNameError(self._miss_message(name))
        meta = {"status": info.status, "value": info.value, "qualified_name": info.qualified_name}
        return Entry(info.name, self.kind, info.source, info._object, (), meta)

    def names(
        self, pattern: Union[str, Sequence[str]] = "*", *, source: str = "all"
    ) -> list[str]:
        """Builtin and user names first, then plugin names; fnmatch patterns, natural sort; no plugin import.

        A plugin appears under its short name when that is unambiguous, else under its qualified name.
        """
        self._ensure_builtins()
        patterns = [pattern] if isinstance(pattern, str) else list(pattern)

        def keep(n: str) -> bool:
            return any(fnmatch.fnmatchcase(n, p) for p in patterns)

        local = sorted((n for n in self._entries if keep(n)), key=_natural_key)
        if source in ("builtin", "user"):
            return [n for n in local if self._entries[n].source == source]
        if source == "local":
            return local
        plugin_names = []
        for info in self.plugins():
            if info.status == "blocked":
                continue
            shown = self._display_name(info)
            if keep(shown) or keep(info.qualified_name):
                plugin_names.append(shown)
        plugin_names = sorted(dict.fromkeys(plugin_names), key=_natural_key)
        return plugin_names if source == "plugin" else local + plugin_names

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def entries(self) -> list[Entry]:
        """Builtin and user entries, in listing order (for ``realiisr info``)."""
        self._ensure_builtins()
        return [self._entries[n] for n in sorted(self._entries, key=_natural_key)]

    def _miss_message(self, name: str) -> str:
        known = list(self._entries) + list(self._aliases)
        for info in self.plugins():
            known += [info.name, info.qualified_name]
        close = difflib.get_close_matches(name, sorted(set(known)), n=5, cutoff=0.6)
        lines = [f"no {self.kind} named {name!r}."]
        if close:
            lines.append(f"Did you mean: {', '.join(repr(c) for c in close)}?")
        short = name.partition(":")[2] or name
        blocked = [i for i in self.plugins() if i.status == "blocked" and i.name == short]
        for info in blocked:
            lines.append(f"Plugin {info.qualified_name} ({info.source}) provides it but is blocked by {BLOCK_ENV}.")
        failed = [
            i for i in self.plugins()
            if i.status == "failed" and (i.name == short or i.name in close)
        ]
        for info in failed:
            lines.append(f"Plugin {info.qualified_name} ({info.source}) would provide {info.name!r} but failed: {info.error}")
        if plugins_disabled():
            lines.append(f"Plugin discovery is off ({DISABLE_ENV}=1).")
        available = self.names()
        lines.append(f"Available {self.kind} names: {', '.join(available) if available else '(none)'}.")
        lines.append("Run `realiisr info` to see every registry, its sources and plugin failures.")
        return " ".join(lines)

    # ------------------------------------------------------------------ building
    def build(self, spec: Any, /, **overrides: Any) -> Any:
        """Build a component from a name, a ``{"type": name, **kwargs}`` mapping or an already-built object.

        ``None``-valued overrides are dropped so unset command-line options keep the component's defaults.
        """
        overrides = {k: v for k, v in overrides.items() if v is not None}
        if isinstance(spec, str):
            name, kwargs = spec, overrides
        elif isinstance(spec, Mapping) or hasattr(spec, "to_dict"):
            mapping = dict(spec.to_dict() if hasattr(spec, "to_dict") else spec)
            if "type" not in mapping:
                raise RegistryError(f"{self.kind} spec {mapping!r} has no 'type' key")
            name = mapping.pop("type")
            kwargs = {**dict(mapping.pop("kwargs", None) or {}), **mapping, **overrides}
        else:
            if overrides:
                raise RegistryError(
                    f"cannot apply overrides {sorted(overrides)} to an already-built {self.kind}"
                )
            if self._check_built is not None:
                self._check_built(spec)
            return spec
        factory = self.get(name)
        try:
            built = factory(**kwargs)
        except TypeError as exc:
            exc.add_note(f"while building {self.kind} {name!r} with arguments {sorted(kwargs)}")
            raise
        if self._check_built is not None:
            self._check_built(built)
        return built

    # ------------------------------------------------------------------ tests
    @contextlib.contextmanager
    def snapshot(self) -> Iterator["Registry"]:
        """Restore entries and plugin state on exit (for tests that register throwaway components)."""
        self._ensure_builtins()
        plugins = None if self._plugins is None else [dataclasses.replace(p) for p in self._plugins]
        saved = (dict(self._entries), dict(self._aliases), plugins)
        try:
            yield self
        finally:
            self._entries, self._aliases, self._plugins = saved[0], saved[1], saved[2]

    def __repr__(self) -> str:
        return f"Registry(kind={self.kind!r}, group={self.entry_point_group!r})"
