"""Interpolation baselines: Pillow's bicubic (a = −0.5, as the reference makes its LR and every table here scores
it) and Lanczos-3, both on 8-bit frames as a user's image viewer would resize them."""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from realiisr.methods import METHODS


def _resize(lr: Tensor, mode: int, scale: int = 4) -> Tensor:
    pixels = np.clip(np.round(lr[0].double().numpy() * 255), 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels).resize((pixels.shape[1] * scale, pixels.shape[0] * scale), mode)
    return torch.from_numpy(np.asarray(image, dtype=np.float32) / 255)[None]


@METHODS.register(name="bicubic")
def bicubic():
    """Pillow's bicubic ×4."""
    return lambda lr: _resize(lr, Image.BICUBIC)


@METHODS.register(name="lanczos")
def lanczos():
    """Pillow's Lanczos-3 ×4."""
    return lambda lr: _resize(lr, Image.LANCZOS)
