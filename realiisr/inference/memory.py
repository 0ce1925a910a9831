"""Keeping freed large CPU buffers mapped, so that repeated big activations do not fault their pages in again.

glibc serves every allocation above its mmap threshold (which it moves up to 32 MiB at most) with a fresh
``mmap`` and unmaps it on free. A model run on a CPU allocates and frees activations of that size over and over
(a 32-tile batch of 128² tiles makes 33 MB ones), and each one then faults in its 8,000 pages, zeroed: 10-13 ms
per such tensor on the 2-core development machine, 2 ms once the memory is kept (``x.clone()`` of 33 MB), and
10-15 % of a tiny-recipe frame.

:func:`keep_freed_memory` raises the threshold, so those buffers come from the heap and are reused, and stops
glibc from trimming the heap. It changes the whole process's allocator, so the library never calls it on its
own: the ``realiisr`` command does, unless ``REALIISR_KEEP_FREED_MEMORY=0``, and Python users may call it. The
cost is memory: the process keeps its peak heap until it exits.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import platform

__all__ = ["keep_freed_memory", "ENV_VAR"]

log = logging.getLogger(__name__)

#: ``0`` keeps glibc's default behaviour in the ``realiisr`` command.
ENV_VAR = "REALIISR_KEEP_FREED_MEMORY"

_M_TRIM_THRESHOLD = -1  # glibc's <malloc.h> parameter numbers
_M_MMAP_THRESHOLD = -3
_INT_MAX = 2**31 - 1


def keep_freed_memory(mmap_threshold_mib: int = 1024) -> bool:
    """Serve CPU allocations up to ``mmap_threshold_mib`` from the heap and never trim it (glibc only).

    Returns whether the allocator was changed (``False`` off glibc, or when glibc refused).
    """
    if not 1 <= mmap_threshold_mib <= 2047:
        raise ValueError(f"keep_freed_memory: mmap_threshold_mib must lie in [1, 2047], got {mmap_threshold_mib}")
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        log.debug("keep_freed_memory: not glibc (%s %s), allocator unchanged", platform.system(), platform.libc_ver())
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError) as exc:
        log.debug("keep_freed_memory: no mallopt (%s), allocator unchanged", exc)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    done = bool(mallopt(_M_MMAP_THRESHOLD, mmap_threshold_mib << 20)) and bool(mallopt(_M_TRIM_THRESHOLD, _INT_MAX))
    log.info("keep_freed_memory: %s", "heap up to %d MiB, no trimming" % mmap_threshold_mib if done else "refused")
    return done


def keep_freed_memory_unless_disabled() -> bool:
    """What the ``realiisr`` command runs at start: :func:`keep_freed_memory` unless ``REALIISR_KEEP_FREED_MEMORY=0``."""
    if os.environ.get(ENV_VAR, "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    return keep_freed_memory()
