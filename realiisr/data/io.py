"""Reading and resampling thermal frames of any bit depth (8/16-bit, grayscale or RGB-stored grayscale)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

__all__ = ["IMAGE_SUFFIXES", "read_image", "read_frame", "pil_bicubic", "shrink_frame", "frame_bit_depth", "write_frame"]

IMAGE_SUFFIXES = (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff")


def read_image(path: Path) -> Image.Image:
    """The decoded image file (pixels loaded), or a ValueError that names the file."""
    try:
        with Image.open(path) as image:
            image.load()
            if image.width == 0 or image.height == 0:
                raise ValueError("no pixels")
            return image.copy()
    except (OSError, ValueError, SyntaxError) as exc:
        raise ValueError(f"cannot read image {str(path)!r}: {exc}") from exc


def read_frame(path: Path) -> torch.Tensor:
    """A frame as ``[1, H, W]`` float32 in [0, 1] (16-bit data divided by 65535, 8-bit by 255).

    Raises:
        ValueError: unreadable, truncated or empty files, unsupported modes, non-finite values — naming the file.
    """
    try:
        with Image.open(path) as image:
            image.load()
            array = np.asarray(image)
    except (OSError, ValueError, SyntaxError) as exc:
        raise ValueError(f"cannot read image {str(path)!r}: {exc}") from exc
    if array.size == 0:
        raise ValueError(f"image {str(path)!r} is empty")
    if array.dtype in (np.uint16, np.int32, np.uint32) or (array.dtype == np.int16):
        scale = 65535.0  # 16-bit radiometric data (Pillow opens 16-bit PNG as I;16 or I)
    elif array.dtype == bool or np.issubdtype(array.dtype, np.floating):
        scale = 1.0
    else:
        scale = 255.0
    if array.ndim == 3:
        array = array[..., :3].astype(np.float64).mean(axis=-1)  # RGB-stored grayscale: channels are equal
    frame = np.asarray(array, dtype=np.float32) / scale
    if not np.isfinite(frame).all():
        raise ValueError(f"image {str(path)!r} contains NaN or Inf")
    return torch.from_numpy(frame.copy())[None]


def pil_bicubic(frame: torch.Tensor, height: int, width: int, eight_bit: bool = False) -> torch.Tensor:
    """Resize ``[C, H, W]`` in [0, 1] with Pillow's bicubic (a = -0.5), which the reference uses for its LR images.

    ``eight_bit=True`` resizes as 8-bit images, as the reference does with its uint8 RGB files (Pillow's
    integer path rounds differently from its float path); otherwise in float32 (16-bit and synthetic data).
    """
    out = []
    for channel in frame:
        array = channel.numpy()
        if eight_bit:
            image = Image.fromarray(np.clip(np.round(array * 255), 0, 255).astype(np.uint8), mode="L")
            resized = np.asarray(image.resize((width, height), Image.BICUBIC), dtype=np.float32) / 255
        else:
            image = Image.fromarray(array.astype(np.float32), mode="F")
            resized = np.asarray(image.resize((width, height), Image.BICUBIC), dtype=np.float32)
        out.append(torch.from_numpy(resized.copy()))
    return torch.stack(out)


def shrink_frame(frame: torch.Tensor, factor: int) -> torch.Tensor:
    """``[C, H, W]`` reduced ``factor``× with Pillow's bicubic over the whole footprint (an anti-aliased shrink)."""
    if factor == 1:
        return frame
    out = []
    for channel in frame:
        image = Image.fromarray(channel.numpy().astype(np.float32), mode="F")
        size = (channel.shape[1] // factor, channel.shape[0] // factor)
        out.append(torch.from_numpy(np.asarray(image.resize(size, Image.BICUBIC), dtype=np.float32).copy()))
    return torch.stack(out)


def frame_bit_depth(path: Path) -> int:
    """8 or 16: the bit depth the file stores (16 for Pillow's I;16 / I modes)."""
    with Image.open(path) as image:
        return 16 if image.mode in ("I;16", "I;16B", "I;16L", "I") else 8


def write_frame(path: Path, frame: torch.Tensor, bits: int = 8) -> None:
    """Write a ``[1, H, W]`` (or ``[H, W]``) frame in [0, 1] as 8-bit or 16-bit grayscale (PNG, TIFF, BMP, ...)."""
    array = frame.detach().float().clamp(0, 1).squeeze().cpu().numpy()
    path.parent.mkdir(parents=True, exist_ok=True)
    if bits == 16:
        Image.fromarray(np.round(array * 65535).astype(np.uint16)).save(path)
    else:
        Image.fromarray(np.round(array * 255).astype(np.uint8), mode="L").save(path)
