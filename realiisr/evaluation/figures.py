"""Comparison figures: LR (bicubic) / SR / HR with a thermal colormap and a zoomed crop, and the line profile
through the hottest region — the paper's "grayscale fluctuation" view of thermal-order preservation."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

__all__ = ["comparison_figure"]


def comparison_figure(path: Path, name: str, panels: dict[str, Tensor], zoom: int = 96) -> Path:
    """Write ``path`` (PNG): one column per panel (``[1, H, W]`` in [0, 1]) plus a line-profile plot."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    reference = next(iter(panels.values()))[0]
    h, w = reference.shape
    smooth = torch.nn.functional.avg_pool2d(reference[None, None], 15, 1, 7)[0, 0]
    row, col = divmod(int(smooth.argmax()), w)
    size = min(zoom, h, w)
    top, left = min(max(0, row - size // 2), h - size), min(max(0, col - size // 2), w - size)
    fig, axes = plt.subplots(3, len(panels), figsize=(3.2 * len(panels), 9.6), squeeze=False,
                             gridspec_kw={"height_ratios": [3, 3, 2.4]})
    for i, (label, img) in enumerate(panels.items()):
        axes[0][i].imshow(img[0].numpy(), cmap="inferno", vmin=0, vmax=1)
        axes[0][i].add_patch(matplotlib.patches.Rectangle((left, top), size, size, fill=False, color="cyan"))
        axes[0][i].axhline(row, color="white", lw=0.6, ls="--")
        axes[0][i].set_title(label)
        axes[1][i].imshow(img[0, top : top + size, left : left + size].numpy(), cmap="inferno", vmin=0, vmax=1)
        for ax in (axes[0][i], axes[1][i]):
            ax.set_xticks([])
            ax.set_yticks([])
    profile = fig.add_subplot(3, 1, 3)
    for ax in axes[2]:
        ax.remove()
    for label, img in panels.items():
        profile.plot(img[0, row].numpy(), label=label, lw=1)
    profile.set_title(f"{name}: grey level along row {row} (through the hottest region)")
    profile.set_xlabel("column")
    profile.set_ylabel("grey level")
    profile.legend()
    fig.tight_layout(h_pad=3.5)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
