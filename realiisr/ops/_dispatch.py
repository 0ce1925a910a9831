"""Choosing between a fused kernel and its eager reference, with the reason, per op and device."""
from __future__ import annotations

import contextlib
import os
import threading
from typing import Iterator, Optional

import torch

from realiisr.ops._loader import OPS_ENV, extension_state, requested_backend

__all__ = ["choose_backend", "use_backend", "grad_will_flow", "cpu_vector_isa", "FUSED_OPS"]

#: Public op name → device types with a fused kernel (empty: eager reference only, for now).
FUSED_OPS = {"toc_loss": ("cpu", "cuda"), "cac_embedding": ("cpu", "cuda"), "cac_codebook": ("cpu", "cuda"),
             "scale_attention": ("cpu", "cuda"), "group_norm_silu": ("cpu",)}

#: How a fused op is implemented where that is not a hand-written kernel (shown by ``realiisr info``).
FUSED_HOW = {"scale_attention": "fused op: per-level mask-free SDPA",
             "cac_codebook": "fused CPU and CUDA kernels (forward and backward)",
             "group_norm_silu": "fused CPU kernel (inference)"}

#: (op, device type) where ``auto`` keeps the eager path although a kernel exists, and why (measured).
PREFER_EAGER: dict[tuple[str, str], str] = {}  # none at present: the CPU CAC kernels now beat eager too

#: (op, device type) where ``auto`` keeps eager when gradients will flow (training), and why (measured).
PREFER_EAGER_WITH_GRAD: dict[tuple[str, str], str] = {
    ("scale_attention", "cuda"): "H200, bf16: per-level SDPA forward+backward measured 0.5-0.8x the masked SDPA "
                                 "(each level's backward rewrites the whole key/value gradient)",
    ("group_norm_silu", "cpu"): "the fused kernel is inference-only (no backward)",
}

#: CPU ops whose kernels are fast only through their AVX2 code path (csrc/common/cpu_isa.h): on a CPU without
#: it (or off x86) their baseline loops measured 5-10x slower than eager, so ``auto`` keeps eager there.
NEEDS_AVX2 = ("cac_embedding", "cac_codebook")


#: Where a CPU's widest vector unit is AVX2 (no AVX-512: ATen's capability "AVX2"), ``auto`` keeps eager for
#: these (op, condition) cases; measured in one run of the op benchmarks on an AVX2-only AMD EPYC, where the
#: other cases still won (CAC fwd+bwd 2.5x, TOC forward 2.0x, full-sequence attention forward 1.76x).
#: Each rule maps (with_grad, tokens) to a reason, or None where the kernel wins.
AVX2_ONLY_RULES = {
    "toc_loss": lambda with_grad, tokens: (
        "AVX2-only CPU: fused TOC forward+backward measured 0.83x eager (4x3x512²)" if with_grad else None),
    "scale_attention": lambda with_grad, tokens: (
        "AVX2-only CPU: per-level attention at short sequences measured 0.88x eager forward, 0.89x with backward "
        "(B8, H2, L258)" if tokens is not None and tokens < SHORT_SEQUENCE else None),
}
#: Below this many query tokens per head the per-level split does not pay on AVX2-only CPUs.
SHORT_SEQUENCE = 1024


_ISA_LEVELS = ("baseline", "avx2", "avx512")


def cpu_vector_isa() -> str:
    """The widest vector level CPU code may use here: ``"avx512"``, ``"avx2"`` or ``"baseline"`` — ATen's
    capability (``ATEN_CPU_CAPABILITY`` caps it), capped again by ``REALIISR_MAX_CPU_ISA=avx2|baseline``
    (which the extension's kernels honour too)."""
    aten = {"AVX512": "avx512", "AVX2": "avx2"}.get(torch.backends.cpu.get_cpu_capability(), "baseline")
    cap = os.environ.get("REALIISR_MAX_CPU_ISA", "").lower()
    if cap in _ISA_LEVELS:
        return _ISA_LEVELS[min(_ISA_LEVELS.index(aten), _ISA_LEVELS.index(cap))]
    return aten


def _cpu_is_avx2_only() -> bool:
    return cpu_vector_isa() == "avx2"


def _cpu_has_avx2() -> bool:
    return cpu_vector_isa() in ("avx2", "avx512")


def grad_will_flow(*tensors: Optional[torch.Tensor]) -> bool:
    """Whether autograd will record an op on these tensors (``None`` entries are skipped): the switch between
    the inference-only fast paths and the differentiable ones."""
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


_OVERRIDE = threading.local()


@contextlib.contextmanager
def use_backend(name: str) -> Iterator[None]:
    """Force ``auto``, ``fused`` or ``eager`` inside a ``with`` block (this thread only)."""
    if name not in ("auto", "fused", "eager"):
        raise ValueError(f"backend must be 'auto', 'fused' or 'eager', got {name!r}")
    previous = getattr(_OVERRIDE, "value", None)
    _OVERRIDE.value = name
    try:
        yield
    finally:
        _OVERRIDE.value = previous


def _requested() -> str:
    override: Optional[str] = getattr(_OVERRIDE, "value", None)
    return override or requested_backend()


def choose_backend(op: str, device: torch.device, with_grad: bool = False,
                   tokens: Optional[int] = None) -> tuple[str, str]:
    """``("fused" | "eager", reason)`` for running ``op`` on ``device`` (``with_grad``: a backward will follow;
    ``tokens``: the sequence length, for the rules that depend on the shape).

    Raises:
        RuntimeError: ``fused`` was forced but cannot run here.
    """
    requested = _requested()
    if requested == "eager":
        return "eager", f"{OPS_ENV}=eager"
    state = extension_state()
    devices = FUSED_OPS.get(op, ())
    if not state.loaded:
        reason = state.reason
    elif not devices:
        reason = f"no fused {op} kernel yet"
    elif device.type not in devices:
        reason = f"no fused {op} kernel for device type {device.type!r}"
    elif device.type == "cuda" and not state.with_cuda:
        reason = "realiisr._C was built without CUDA"
    elif requested == "auto" and (op, device.type) in PREFER_EAGER:
        return "eager", PREFER_EAGER[(op, device.type)]
    elif requested == "auto" and with_grad and (op, device.type) in PREFER_EAGER_WITH_GRAD:
        return "eager", PREFER_EAGER_WITH_GRAD[(op, device.type)]
    elif requested == "auto" and device.type == "cpu" and op in NEEDS_AVX2 and not _cpu_has_avx2():
        capability = torch.backends.cpu.get_cpu_capability()
        return "eager", f"this CPU lacks AVX2 ({capability}), which the {op} kernel needs to beat eager"
    elif (requested == "auto" and device.type == "cpu" and op in AVX2_ONLY_RULES and _cpu_is_avx2_only()
          and AVX2_ONLY_RULES[op](with_grad, tokens) is not None):
        return "eager", AVX2_ONLY_RULES[op](with_grad, tokens)
    else:
        return "fused", FUSED_HOW.get(op, f"fused {device.type} kernel")
    if requested == "fused":
        raise RuntimeError(f"{OPS_ENV}=fused but {op} cannot use a fused kernel: {reason}")
    return "eager", reason
