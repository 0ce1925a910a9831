"""Shared fixtures. Test modules import nothing from each other (the pure-Python CI run uses importlib mode)."""
from __future__ import annotations

import importlib
import os
import sys
import textwrap
from pathlib import Path
from typing import Callable, Mapping

import pytest
import torch

from realiisr.core.registries import REGISTRIES as _COMPONENT_REGISTRIES
from realiisr.data.degradations import DEGRADATIONS
from realiisr.data.samples import find_samples_dir, find_shared_dir


REGISTRIES = {**_COMPONENT_REGISTRIES, "degradation": DEGRADATIONS}


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    path = find_shared_dir()
    if path is None:
        pytest.skip("../shared is not present (set REALIISR_SHARED to its path)")
    return path


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    path = find_samples_dir()
    if path is None:
        pytest.skip("../shared/data/flir-iisr-samples is not present (set REALIISR_SHARED)")
    return path


@pytest.fixture(scope="session")
def sample_frame(samples_dir) -> Callable:
    """``sample_frame("pairs/HR/000009_0.png")``: that sample frame as ``[1, h, w]`` in [0, 1], or a skip."""
    from realiisr.data.io import read_frame

    def load(relative: str) -> torch.Tensor:
        path = samples_dir / relative
        if not path.is_file():
            pytest.skip(f"{path} is absent")
        return read_frame(path)

    return load


@pytest.fixture(scope="session")
def golden_path() -> Path:
    """``REALIISR_GOLDEN``, default ``../shared/golden/official_tiny_a.pt`` (its ``.json`` sidecar beside it)."""
    env = os.environ.get("REALIISR_GOLDEN")
    if env:
        path = Path(env)
    else:
        shared = find_shared_dir()
        path = shared / "golden" / "official_tiny_a.pt" if shared is not None else None
    if path is None or not path.is_file():
        pytest.skip(f"golden vectors not found ({path}); set REALIISR_GOLDEN")
    return path


@pytest.fixture(scope="session")
def golden(golden_path) -> dict:
    return torch.load(golden_path, weights_only=True)


@pytest.fixture
def fresh_registries():
    """Registries restored after the test, with plugin discovery re-run inside it."""
    saved = []
    for registry in REGISTRIES.values():
        context = registry.snapshot()
        context.__enter__()
        saved.append(context)
        registry.refresh()
    yield REGISTRIES
    for context in saved:
        context.__exit__(None, None, None)
    for registry in REGISTRIES.values():
        registry.refresh()


@pytest.fixture
def fake_dist(tmp_path, monkeypatch, fresh_registries) -> Callable[..., Path]:
    """Create an installed-looking distribution (``*.dist-info`` on ``sys.path``) with entry points and modules.

    ``fake_dist("my-dist", {"realiisr.guidance": {"name": "mod:Obj"}}, {"mod": "source"})``
    """
    created_modules: list[str] = []

    def make(
        name: str,
        entry_points: Mapping[str, Mapping[str, str]],
        modules: Mapping[str, str] | None = None,
        version: str = "1.0",
    ) -> Path:
        site = tmp_path / f"site-{name}"
        info = site / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        lines = []
        for group, items in entry_points.items():
            lines.append(f"[{group}]")
            lines += [f"{key} = {value}" for key, value in items.items()]
        (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
        for module, source in (modules or {}).items():
            (site / f"{module}.py").write_text(textwrap.dedent(source))
            created_modules.append(module)
        monkeypatch.syspath_prepend(str(site))
        importlib.invalidate_caches()
        for registry in REGISTRIES.values():
            registry.refresh()
        return site

    yield make
    for module in created_modules:
        sys.modules.pop(module, None)


def pytest_report_header(config):
    from realiisr.ops import extension_state

    state = extension_state()
    return f"realiisr extension: {'loaded' if state.loaded else 'not loaded'} ({state.reason})"
