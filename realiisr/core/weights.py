"""Loading trained weights: safetensors only, hash-checked, strict, with errors that name the keys."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Mapping, Optional, Union

import torch
from torch import nn

__all__ = ["WeightsError", "sha256_of", "load_state_dict_file", "fit_problems", "load_into"]


class WeightsError(RuntimeError):
    """Weights that cannot be used as they are: missing file, wrong hash, mismatched keys or shapes."""


def sha256_of(path: Union[str, Path], chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def load_state_dict_file(
    path: Union[str, Path], *, sha256: Optional[str] = None, device: Union[str, torch.device] = "cpu"
) -> dict[str, torch.Tensor]:
    """Read a ``.safetensors`` file, checking its sha256 first when one is given.

    Pickle-based files are refused here on purpose; the reference-checkpoint importer reads those with
    ``torch.load(weights_only=True)``.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file {str(path)!r} does not exist")
    if path.suffix != ".safetensors":
        raise WeightsError(
            f"weights file {str(path)!r} is not .safetensors; convert reference checkpoints with `realiisr convert`"
        )
    if sha256 is not None:
        actual = sha256_of(path)
        if actual != sha256.lower():
            raise WeightsError(f"weights file {str(path)!r} has sha256 {actual}, expected {sha256}")
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device=str(device))
    except (SafetensorError, OSError, ValueError) as exc:
        raise WeightsError(f"weights file {str(path)!r} is not a readable safetensors file (corrupt or truncated?): "
                           f"{exc}") from exc


def fit_problems(own: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor]) -> list[str]:
    """Missing, unexpected and mis-shaped keys of ``state`` against ``own`` (empty when it fits exactly)."""
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    mismatched = sorted(
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in set(own) & set(state)
        if tuple(own[k].shape) != tuple(state[k].shape)
    )
    parts = []
    for label, keys in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", mismatched)):
        if keys:
            shown = ", ".join(keys[:20]) + (f" … (+{len(keys) - 20})" if len(keys) > 20 else "")
            parts.append(f"{label} ({len(keys)}): {shown}")
    return parts


def load_into(module: nn.Module, state: Mapping[str, torch.Tensor], *, what: str = "weights") -> None:
    """``load_state_dict(strict=True)`` with one message listing missing, unexpected and mis-shaped keys."""
    problems = fit_problems(module.state_dict(), state)
    if problems:
        raise WeightsError(f"{what} do not fit {type(module).__name__}: " + "; ".join(problems))
    module.load_state_dict(dict(state), strict=True)
