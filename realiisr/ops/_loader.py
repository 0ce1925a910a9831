"""Finding and loading the compiled op library ``realiisr._C`` — lazily, once, never failing an import."""
from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import logging
import os
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch

__all__ = ["ExtensionState", "extension_state", "OPS_ENV"]

_LOG = logging.getLogger("realiisr.ops")
OPS_ENV = "REALIISR_OPS"
_LOCK = threading.Lock()
_STATE: Optional["ExtensionState"] = None


@dataclass(frozen=True)
class ExtensionState:
    """Whether the fused ops can be used, and why not when they cannot."""

    loaded: bool
    reason: str
    build_info: dict[str, Any] = field(default_factory=dict)
    path: Optional[str] = None

    @property
    def with_cuda(self) -> bool:
        return bool(self.build_info.get("with_cuda"))


def _find_spec() -> Optional[importlib.machinery.ModuleSpec]:
    """``realiisr._C`` from this package's own folder only (as torchvision does): an extension from another
    installation of realiisr on the path (an editable checkout, say) must never be mixed in."""
    package_dir = Path(__file__).resolve().parent.parent
    finder = importlib.machinery.FileFinder(
        str(package_dir), (importlib.machinery.ExtensionFileLoader, importlib.machinery.EXTENSION_SUFFIXES)
    )
    return finder.find_spec("realiisr._C")


def _load() -> ExtensionState:
    spec = _find_spec()
    if spec is None:
        return ExtensionState(False, "the C++ extension realiisr._C is not built (REALIISR_BUILD_EXT=0?)")
    try:
        module = importlib.util.module_from_spec(spec)
        sys.modules["realiisr._C"] = module
        spec.loader.exec_module(module)
    except ImportError as exc:
        sys.modules.pop("realiisr._C", None)
        _LOG.warning("realiisr._C at %s failed to load, using eager ops: %s", spec.origin, exc)
        return ExtensionState(False, f"realiisr._C failed to load: {exc}", path=spec.origin)
    info = json.loads(torch.ops.realiisr.build_info())
    built_for = info.get("torch_version", "unknown")
    if built_for.split("+")[0] != torch.__version__.split("+")[0]:
        _LOG.warning(
            "realiisr._C was built for torch %s but torch %s is running; rebuild it. Using eager ops.",
            built_for,
            torch.__version__,
        )
        return ExtensionState(
            False, f"realiisr._C was built for torch {built_for}, running {torch.__version__}", info, spec.origin
        )
    from realiisr.ops import _registrations  # noqa: F401  (fake kernels and autograd)

    return ExtensionState(True, "realiisr._C loaded", info, getattr(module, "__file__", spec.origin))


def extension_state() -> ExtensionState:
    """Load the extension on first use and remember the outcome."""
    global _STATE
    if _STATE is None:
        with _LOCK:
            if _STATE is None:
                _STATE = _load()
                if not _STATE.loaded:
                    _LOG.info("realiisr fused ops unavailable (%s); using the eager PyTorch references", _STATE.reason)
    return _STATE


def requested_backend() -> str:
    """``REALIISR_OPS``: ``auto`` (default), ``fused`` (error if unavailable) or ``eager``."""
    value = os.environ.get(OPS_ENV, "auto").strip().lower() or "auto"
    if value not in ("auto", "fused", "eager"):
        raise ValueError(f"{OPS_ENV} must be 'auto', 'fused' or 'eager', got {value!r}")
    return value
