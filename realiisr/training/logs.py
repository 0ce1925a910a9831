"""What a run writes besides checkpoints: ``train.csv`` / ``validation.csv``, TensorBoard events and
validation image grids, all in the run folder (appended to on resume)."""
from __future__ import annotations

import csv
import logging
import os
from pathlib import Path
from typing import Any, Mapping, Optional

import torch
from torch import Tensor

__all__ = ["RunLogs", "image_grid"]

_LOG = logging.getLogger(__name__)


def image_grid(panels: Mapping[str, Tensor], gap: int = 2) -> Tensor:
    """``{column name: [N, C, H, W] in [0, 1]}`` → one ``[H', W']`` grey grid: a row per sample, a column per panel."""
    columns = [p.float().mean(dim=1).clamp(0, 1).cpu() for p in panels.values()]
    n, h, w = columns[0].shape
    grid = torch.ones(n * h + (n - 1) * gap, len(columns) * w + (len(columns) - 1) * gap)
    for j, column in enumerate(columns):
        if column.shape != (n, h, w):
            raise ValueError(f"image_grid: panel {list(panels)[j]!r} is {tuple(column.shape)}, expected {(n, h, w)}")
        for i in range(n):
            grid[i * (h + gap) : i * (h + gap) + h, j * (w + gap) : j * (w + gap) + w] = column[i]
    return grid


class RunLogs:
    """CSV files always; TensorBoard events under ``tensorboard/`` when ``tensorboard`` is installed and wanted."""

    def __init__(self, out_dir: Path, *, tensorboard: bool = True) -> None:
        self.out_dir = out_dir
        self.files: dict[str, tuple[Any, csv.DictWriter]] = {}
        self.board = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # tensorboard is optional: the CSV files hold the same numbers
                _LOG.info("tensorboard is not installed; metrics go to the CSV files only")
            else:
                self.board = SummaryWriter(str(out_dir / "tensorboard"))

    def write(self, name: str, row: Mapping[str, float]) -> None:
        path = self.out_dir / f"{name}.csv"
        if name in self.files and not set(row) <= set(self.files[name][1].fieldnames):
            self.files.pop(name)[0].close()  # a new column (e.g. a term that starts later): widen the header
        if name not in self.files:
            rows, fields = [], set(row)
            if path.exists() and path.stat().st_size > 0:
                with open(path, newline="") as handle:
                    reader = csv.DictReader(handle)
                    rows, fields = list(reader), fields | set(reader.fieldnames or [])
            tmp = path.with_name(f".{path.name}.tmp")
            with open(tmp, "w", newline="") as handle:  # the old file stays whole until the rename
                writer = csv.DictWriter(handle, fieldnames=sorted(fields), extrasaction="ignore", restval="")
                writer.writeheader()
                writer.writerows(rows)
            os.replace(tmp, path)
            handle = open(path, "a", newline="")
            self.files[name] = (handle, csv.DictWriter(handle, fieldnames=sorted(fields), extrasaction="ignore",
                                                       restval=""))
        handle, writer = self.files[name]
        writer.writerow(row)
        handle.flush()
        if self.board is not None:
            step = int(row["step"])
            for key, value in row.items():
                if key != "step":
                    self.board.add_scalar(f"{name}/{key}", float(value), step)
            self.board.flush()

    def images(self, step: int, panels: Mapping[str, Tensor]) -> Optional[Path]:
        """Write ``val_images/step-XXXXXXXX.png`` (columns in the order of ``panels``) and the same to TensorBoard."""
        if not panels:
            return None
        from PIL import Image

        grid = image_grid(panels)
        path = self.out_dir / "val_images" / f"step-{step:08d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(grid.mul(255).round().to(torch.uint8).numpy()).save(path)
        if self.board is not None:
            self.board.add_image("validation/" + "|".join(panels), grid[None], step)
            self.board.flush()
        return path

    def close(self) -> None:
        for handle, _ in self.files.values():
            handle.close()
        self.files.clear()
        if self.board is not None:
            self.board.close()
            self.board = None
