"""Fused ops with eager fallbacks.

``REALIISR_OPS=auto`` (default) uses the compiled kernels of ``realiisr._C`` where they exist for the
input's device and the eager PyTorch references in :mod:`realiisr.ops.reference` otherwise;
``fused`` makes a missing kernel an error, ``eager`` always uses the references.
"""
from __future__ import annotations

import torch

from realiisr.ops._dispatch import FUSED_OPS, choose_backend, cpu_vector_isa, grad_will_flow, use_backend
from realiisr.ops._loader import ExtensionState, extension_state
from realiisr.ops.cac import cac_codebook, cac_embedding
from realiisr.ops.group_norm_silu import group_norm_silu
from realiisr.ops.scale_attention import scale_attention
from realiisr.ops.toc_loss import toc_loss

__all__ = [
    "cac_codebook",
    "cac_embedding",
    "group_norm_silu",
    "scale_attention",
    "toc_loss", "status", "build_info", "use_backend", "choose_backend", "grad_will_flow", "cpu_vector_isa",
    "extension_state",
    "ExtensionState"]


def build_info() -> dict:
    """What ``realiisr._C`` was built with (empty when it is not loaded)."""
    return dict(extension_state().build_info)


def status() -> dict[str, dict[str, str]]:
    """For each op and device type: the backend it would use now and why."""
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    out: dict[str, dict[str, str]] = {}
    for op in FUSED_OPS:
        out[op] = {}
        for device in devices:
            try:
                backend, reason = choose_backend(op, torch.device(device))
                with_grad = choose_backend(op, torch.device(device), with_grad=True)
            except RuntimeError as exc:
                backend, reason, with_grad = "error", str(exc), None
            out[op][device] = f"{backend} ({reason})"
            if with_grad is not None and with_grad[0] != backend:  # e.g. CUDA attention when training
                out[op][device] += f"; with gradients: {with_grad[0]} ({with_grad[1]})"
    return out
