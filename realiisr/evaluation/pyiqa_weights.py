"""Which local files each pyiqa metric loads, so that a metric is built only when they are all present.

pyiqa downloads a missing weight file inside ``create_metric``; realiisr never downloads at run time, so
:func:`missing_weights` is asked first and a metric with a missing file is reported by that file's path. The
paths follow pyiqa 0.1.x: its own weights under ``<torch hub>/pyiqa/``, torchvision backbones under
``<torch hub>/checkpoints/``, CLIP under ``<torch hub>/clip/`` (``<torch hub>`` is ``torch.hub.get_dir()``,
i.e. ``$TORCH_HOME/hub``). A metric not listed here and not known to be weight-free is not built at all.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

__all__ = ["WEIGHT_FREE", "WEIGHT_FILES", "missing_weights"]

#: pyiqa metrics that compute from the images alone.
WEIGHT_FREE = frozenset({"psnr", "psnry", "ssim", "ssimc", "ms_ssim", "cw_ssim", "fsim", "gmsd", "vif", "vsi",
                         "nlpd", "piqe", "entropy", "mad"})

#: metric → files (relative to the torch hub folder) that its default configuration loads.
WEIGHT_FILES: dict[str, tuple[str, ...]] = {
    "lpips": ("pyiqa/LPIPS_v0.1_alex-df73285e.pth", "checkpoints/alexnet-owt-7be5be79.pth"),
    "lpips-vgg": ("pyiqa/LPIPS_v0.1_vgg-a78928a0.pth", "checkpoints/vgg16-397923af.pth"),
    "musiq": ("pyiqa/musiq_koniq_ckpt-e95806b9.pth",),
    "clipiqa": ("clip/RN50.pt",),
    "clipiqa+": ("clip/RN50.pt", "pyiqa/CLIP-IQA+_learned_prompts-603f3273.pth"),
}


def missing_weights(name: str, hub: Optional[Path] = None) -> Optional[str]:
    """None when ``name`` can be built offline, else why not (the first missing file's path)."""
    if name in WEIGHT_FREE:
        return None
    if name not in WEIGHT_FILES:
        return f"its weight files are not known to realiisr (it would download them); known: {sorted(WEIGHT_FILES)}"
    if hub is None:
        import torch.hub

        hub = Path(torch.hub.get_dir())
    for relative in WEIGHT_FILES[name]:
        if not (hub / relative).is_file():
            return f"weights not found: {hub / relative} (place pyiqa's file there; nothing is downloaded)"
    return None
