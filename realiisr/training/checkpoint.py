"""Checkpoints: weights in safetensors, the rest (optimiser, schedule, RNG, position) in a torch file.

Both are written to temporary names and renamed into place, weights first, then a small ``latest`` marker;
a run killed during a save still has its previous checkpoint. Loading uses ``weights_only=True``.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Optional

import torch
from torch import nn

from realiisr.core.weights import load_into, load_state_dict_file

__all__ = ["save_checkpoint", "load_checkpoint", "latest_checkpoint", "rng_state", "set_rng_state"]


def rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _atomic_write(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    write(tmp)
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def save_checkpoint(out_dir: Path, step: int, model: nn.Module, state: dict[str, Any], *, keep_last: int = 3,
                    best: bool = False, weights: Optional[dict[str, torch.Tensor]] = None) -> Path:
    """Write ``step-<N>/`` (``model.safetensors`` + ``state.pt``), update ``latest``, prune old steps.
    ``weights``: a full state dict gathered beforehand (a sharded model's own ``state_dict`` holds shards)."""
    from safetensors.torch import save_file

    out_dir.mkdir(parents=True, exist_ok=True)
    folder = out_dir / f"step-{step:08d}"
    folder.mkdir(exist_ok=True)
    weights = {k: v.detach().contiguous().cpu() for k, v in (weights if weights is not None else model.state_dict()).items()}
    _atomic_write(folder / "model.safetensors", lambda p: save_file(weights, str(p)))
    _atomic_write(folder / "state.pt", lambda p: torch.save(state, p))
    _atomic_write(out_dir / "latest", lambda p: p.write_text(json.dumps({"step": step, "folder": folder.name})))
    if best:
        best_dir = out_dir / "best"
        tmp = out_dir / ".best.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(folder, tmp)
        shutil.rmtree(best_dir, ignore_errors=True)
        os.replace(tmp, best_dir)
    steps = sorted(p for p in out_dir.glob("step-*") if p.is_dir())
    for old in steps[:-keep_last] if keep_last > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return folder


def latest_checkpoint(out_dir: Path) -> Optional[Path]:
    marker = out_dir / "latest"
    if not marker.is_file():
        return None
    folder = out_dir / json.loads(marker.read_text())["folder"]
    return folder if (folder / "model.safetensors").is_file() and (folder / "state.pt").is_file() else None


def load_checkpoint(folder: Path, model: nn.Module) -> dict[str, Any]:
    """Load weights strictly into ``model`` and return the training state."""
    load_into(model, load_state_dict_file(folder / "model.safetensors"), what=f"checkpoint {str(folder)!r}")
    return torch.load(folder / "state.pt", map_location="cpu", weights_only=True)
