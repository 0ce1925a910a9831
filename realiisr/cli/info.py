"""``realiisr info``: versions, extension build, op backends, registries with sources, plugin failures."""
from __future__ import annotations

import argparse
import importlib.metadata as metadata
import platform
import warnings

__all__ = ["add_parser", "report"]

_OPTIONAL = ("numpy", "timm", "pyiqa", "safetensors", "pybind11", "ninja")


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("info", help="show versions, extension and op status, registries and plugins")
    parser.set_defaults(run=lambda args: print(report()))


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def report() -> str:
    """The whole diagnostic report as text. Imports every plugin to report failures."""
    import torch

    import realiisr
    from realiisr import ops
    from realiisr.core.registries import REGISTRIES
    from realiisr.data.degradations import DEGRADATIONS

    lines = [f"realiisr {realiisr.__version__}"]
    cuda = f"CUDA {torch.version.cuda}" if torch.version.cuda else "CPU-only build"
    lines.append(f"python {platform.python_version()} | torch {torch.__version__} ({cuda}) | {platform.machine()}")
    lines.append("packages: " + ", ".join(f"{d} {_version(d)}" for d in _OPTIONAL))

    state = ops.extension_state()
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no device"
    lines.append("")
    if state.loaded:
        info = state.build_info
        cuda_text = (
            f"yes (CUDA {info.get('cuda_version')}, archs {info.get('cuda_archs')}), {device}"
            if state.with_cuda
            else f"no, {device}"
        )
        lines.append(f"extension: realiisr._C loaded from {state.path}")
        lines.append(
            f"  built with CUDA: {cuda_text}; torch {info.get('torch_version')}; {info.get('compiler')};"
            f" by {info.get('build_system')}"
        )
    else:
        lines.append(f"extension: not loaded: {state.reason}")
        lines.append(f"  built with CUDA: unknown, {device}")
    lines.append("ops:")
    for op, per_device in ops.status().items():
        for dev, text in per_device.items():
            lines.append(f"  {op:<16} {dev:<5} {text}")

    failures = []
    for kind, registry in {**REGISTRIES, "degradation": DEGRADATIONS}.items():
        lines.append("")
        lines.append(f"{kind} registry (entry-point group {registry.entry_point_group}):")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            entries = registry.entries()
            plugins = registry.load_all()
        if not entries and not plugins:
            lines.append("  (empty)")
        for entry in entries:
            aliases = f" (aliases: {', '.join(entry.aliases)})" if entry.aliases else ""
            lines.append(f"  {entry.name:<24} {entry.source}{aliases}")
        for plugin in plugins:
            lines.append(f"  {plugin.qualified_name:<24} {plugin.source} [{plugin.status}] = {plugin.value}")
            if plugin.status == "failed":
                failures.append(plugin)
    from realiisr.core._plugins import BLOCK_ENV, DISABLE_ENV, plugins_disabled

    lines.append("")
    if plugins_disabled():
        lines.append(f"plugins: discovery disabled by {DISABLE_ENV}=1")
    if failures:
        lines.append(f"plugin failures ({len(failures)}):")
        for plugin in failures:
            lines.append(f"  {plugin.qualified_name} from {plugin.source}: {plugin.error}")
    else:
        lines.append("plugin failures: none")
    lines.append(f"(block plugins with {BLOCK_ENV}=name,dist:name; disable discovery with {DISABLE_ENV}=1)")
    return "\n".join(lines)
