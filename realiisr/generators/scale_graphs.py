"""Next-scale generation replayed from CUDA graphs: one graph per scale, captured once per batch and dtype.

A full-size sample launches ~15k kernels, most of them the small ops of 24 blocks × 10 scales, and on a
fast GPU the launches, not the kernels, set the time. Every scale's pass has shapes fixed by the batch
size, so :meth:`VARGenerator.scale_logits` is captured per scale and replayed; the KV cache lives in
buffers this object owns, written in place at the rows each scale's graph was captured with. Sampling,
guidance and the tokenizer's next input stay eager between the graphs (a few launches per scale).

Off CUDA (``capture=False``) the same static buffers are used and the passes run eagerly: what the tests
check on a CPU is everything but the capture itself.
"""
from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Hashable, Iterator, Optional

import torch
from torch import Tensor

if TYPE_CHECKING:
    from realiisr.generators.var import VARGenerator

__all__ = ["ScaleGraphs"]

#: Eager passes before capture: the first lets cuDNN/cuBLAS pick and allocate their workspaces outside
#: the graph; the second runs with everything warm (what the capture then records).
_WARMUP_PASSES = 2


def _autocast_state(device_type: str) -> tuple[bool, torch.dtype]:
    return torch.is_autocast_enabled(device_type), torch.get_autocast_dtype(device_type)


class ScaleGraphs:
    """The generation passes of one :class:`VARGenerator` for one (batch, dtypes, device, autocast) key.

    Args:
        generator: the generator (in eval mode; its weights must keep their storage, see :meth:`key_for`).
        start, cond: example start tokens ``[2B, first_l, width]`` and class embeddings ``[2B, width]``
            (``[B, ...]`` each when not ``guided``).
        capture: record CUDA graphs (CUDA tensors only); ``False`` runs the static-buffer path eagerly.
        guided: both classifier-free-guidance halves run (cfg ≠ 0); the tokens of each scale are ``[B, ...]``.
    """

    def __init__(self, generator: "VARGenerator", start: Tensor, cond: Tensor, capture: bool,
                 guided: bool = True) -> None:
        if capture and not start.is_cuda:
            raise ValueError(f"ScaleGraphs: CUDA graphs need CUDA tensors, got the start tokens on {start.device}")
        if generator.training:
            raise RuntimeError("ScaleGraphs: the generator is in training mode (drop path would be frozen into the graphs)")
        self.generator = generator
        self.autocast = _autocast_state(start.device.type)
        rows = start.shape[0]
        self.start = torch.zeros_like(start)
        self.cond = torch.zeros_like(cond)
        z = generator.word_embed.in_features
        self.sources: list[Tensor] = [self.start] + [
            start.new_zeros((rows // 2 if guided else rows, pn * pn, z), dtype=torch.float32) for pn in generator.patch_nums[1:]
        ]
        self.kv: Optional[list[tuple[Tensor, Tensor]]] = None
        self.graphs: list["torch.cuda.CUDAGraph"] = []
        self.outputs: list[Tensor] = []
        self.pool = None
        if capture:
            self._capture()

    @staticmethod
    def key_for(generator: "VARGenerator", start: Tensor, cond: Tensor, guided: bool = True) -> Hashable:
        """What a capture depends on: shapes, dtypes, device, autocast, whether the blocks run compiled, and
        where every weight lives (a graph reads the weights by address: ``model.to(...)`` or a reassigned
        parameter must capture anew)."""
        return (tuple(start.shape), guided, start.dtype, cond.dtype, start.device, _autocast_state(start.device.type),
                tuple(block.compiled for block in generator.blocks), tuple(p.data_ptr() for p in generator.parameters()))

    @property
    def captured(self) -> bool:
        return bool(self.graphs)

    # ------------------------------------------------------------------ the static passes
    def _set_caching(self, enabled: bool) -> None:
        capacity = self.generator.level_ends[-1]
        for i, block in enumerate(self.generator.blocks):
            if enabled:
                block.attn.set_caching(True, capacity, None if self.kv is None else self.kv[i])
            else:
                block.attn.set_caching(False)

    def _adopt_kv_buffers(self) -> None:
        """Keep the buffers the first pass allocated (one per layer), so later passes and graphs share them."""
        if self.kv is None:
            self.kv = [block.attn.kv_buffers for block in self.generator.blocks]

    @contextlib.contextmanager
    def _autocast_for_capture(self) -> Iterator[None]:
        # Autocast's cache of cast weights would be allocated inside the graph's pool and freed on exit from
        # the caller's context while the graph still reads it: capture without the cache.
        enabled, dtype = self.autocast
        with torch.autocast(self.start.device.type, dtype=dtype, enabled=enabled, cache_enabled=False):
            yield

    def _eager_pass(self) -> None:
        self._set_caching(True)
        try:
            for si, source in enumerate(self.sources):
                self.generator.scale_logits(si, source, self.cond)
                self._adopt_kv_buffers()
        finally:
            self._set_caching(False)

    def _capture(self) -> None:
        side = torch.cuda.Stream(device=self.start.device)
        side.wait_stream(torch.cuda.current_stream(self.start.device))
        with torch.no_grad(), torch.cuda.stream(side), self._autocast_for_capture():
            for _ in range(_WARMUP_PASSES):
                self._eager_pass()
        torch.cuda.current_stream(self.start.device).wait_stream(side)
        self.pool = torch.cuda.graph_pool_handle()
        self._set_caching(True)
        try:
            with torch.no_grad(), self._autocast_for_capture():
                for si, source in enumerate(self.sources):
                    graph = torch.cuda.CUDAGraph()
                    with torch.cuda.graph(graph, pool=self.pool):
                        self.outputs.append(self.generator.scale_logits(si, source, self.cond))
                    self.graphs.append(graph)
        finally:
            self._set_caching(False)

    # ------------------------------------------------------------------ one sample
    def begin(self, start: Tensor, cond: Tensor) -> None:
        """Load one sample's start tokens and class embeddings (shapes and dtypes of the key)."""
        if start.shape != self.start.shape or cond.shape != self.cond.shape:
            raise ValueError(f"ScaleGraphs: captured for start {tuple(self.start.shape)} and cond "
                             f"{tuple(self.cond.shape)}, got {tuple(start.shape)} and {tuple(cond.shape)}")
        self.start.copy_(start)
        self.cond.copy_(cond)
        if not self.captured:
            self._set_caching(True)

    def logits(self, si: int, source: Tensor) -> Tensor:
        """Logits of pass ``si`` (both guidance halves). ``source`` is ignored for the first pass (the start
        tokens of :meth:`begin`). The result is a static buffer, overwritten by the next sample."""
        if si:
            self.sources[si].copy_(source)
        if self.captured:
            self.graphs[si].replay()
            return self.outputs[si]
        out = self.generator.scale_logits(si, self.sources[si], self.cond)
        self._adopt_kv_buffers()
        return out

    def end(self) -> None:
        if not self.captured:
            self._set_caching(False)

    def release(self) -> None:
        """Drop the graphs, their memory pool and the cache buffers."""
        self.graphs, self.outputs, self.kv, self.pool = [], [], None, None
