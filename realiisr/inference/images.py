"""One image-in, image-out path for the ``realiisr upscale`` command and :meth:`RealIISR.upscale`.

Whatever comes in goes back in the same kind: a PIL image, a numpy array (8-bit, 16-bit or float) or a tensor.
8-bit frames use the fixed [0, 255] range (the model was trained on 8-bit AGC frames). 16-bit (radiometric)
frames use ``normalize``: ``"minmax"`` (default) maps the frame's own [min, max] to [0, 1] for the model and the
result back through the same linear map, ``"fixed"`` divides by 65535. Float arrays and tensors are taken as
[0, 1] frames.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor

__all__ = ["upscale_image", "frame_from_image", "NORMALIZE_CHOICES"]

NORMALIZE_CHOICES = ("minmax", "fixed")
_SIXTEEN_BIT = (np.uint16, np.int32, np.uint32, np.int16)


def _grey_array(image: Any) -> np.ndarray:
    from PIL import Image

    if isinstance(image, Image.Image):
        if image.mode not in ("L", "I;16", "I;16B", "I;16L", "I", "F"):
            image = image.convert("L")
        image = np.asarray(image)
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[-1] in (3, 4):  # H x W x RGB(A) grayscale
        array = array[..., :3].astype(np.float64).mean(axis=-1).round().astype(array.dtype) \
            if array.dtype.kind in "ui" else array[..., :3].mean(axis=-1)
    if array.ndim == 3 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 2:
        raise ValueError(f"upscale: expected a grey frame [h, w] (or [h, w, 3], [1, h, w]), got shape {array.shape}")
    return array


def frame_from_image(image: Any, normalize: str = "minmax") -> tuple[Tensor, Callable[[Tensor], Any], bool]:
    """(``[1, h, w]`` float32 frame in [0, 1], a function that turns the model's ``[1, H, W]`` output back into
    the input's kind, whether the frame is 8-bit)."""
    from PIL import Image

    if normalize not in NORMALIZE_CHOICES:
        raise ValueError(f"upscale: normalize must be one of {NORMALIZE_CHOICES}, got {normalize!r}")
    if isinstance(image, Tensor):
        squeeze = image.dim() == 2
        frame = image.detach().float().cpu()
        frame = frame.mean(dim=0, keepdim=True) if frame.dim() == 3 and frame.shape[0] == 3 else frame.reshape(1, *frame.shape[-2:])
        return frame, (lambda out: out[0] if squeeze else out), False
    as_pil = isinstance(image, Image.Image)
    array = _grey_array(image)
    kind = array.dtype
    low, high = 0.0, 1.0
    if kind == np.uint8:
        high = 255.0
    elif kind in _SIXTEEN_BIT:
        if normalize == "minmax":
            low, high = float(array.min()), float(array.max())
            high = high if high > low else low + 1.0
        else:
            high = 65535.0
    elif kind.kind != "f":
        raise ValueError(f"upscale: unsupported pixel type {kind} (8-bit, 16-bit or float frames)")
    frame = torch.from_numpy((array.astype(np.float64) - low) / (high - low)).float()[None]

    def restore(out: Tensor) -> Any:
        values = out[0].double().numpy() * (high - low) + low
        if kind.kind in "ui":
            info = np.iinfo(kind)
            values = np.clip(np.round(values), info.min, info.max).astype(kind)
        else:
            values = values.astype(kind)
        if as_pil:
            return Image.fromarray(values.astype(np.uint16) if kind in _SIXTEEN_BIT else values)
        return values

    return frame, restore, kind == np.uint8


def upscale_image(model, image: Any, *, normalize: str = "minmax", **settings: Any) -> Any:
    """Super-resolve a whole LR frame of any size, returning the same kind of object (see the module doc).

    ``settings`` go to :class:`realiisr.inference.Upscaler` (overlap, seed, color_fix, cfg, top_k, dtype, ...).
    """
    from realiisr.inference.upscale import Upscaler

    frame, restore, eight_bit = frame_from_image(image, normalize)
    settings.setdefault("eight_bit", eight_bit)  # Pillow's 8-bit resize path only for 8-bit frames
    return restore(Upscaler(model, **settings)(frame))
