"""One image-in, image-out path for the ``realiisr upscale`` command and :meth:`RealIISR.upscale`.

Whatever comes in goes back in the same kind: a PIL image, a numpy array (8-bit, 16-bit or float) or a tensor.

- 8-bit grey frames use the fixed [0, 255] range (the model was trained on 8-bit AGC frames).
- Pseudo-colour frames (``palette``: ``"auto"`` detects one of :mod:`realiisr.camera.palettes`, or name one, or
  pass a :class:`~realiisr.camera.palettes.Palette`) are upscaled as the scalar behind the colours and come back in
  the same palette, overlays kept (:mod:`realiisr.camera.pseudocolour`); ``palette="none"`` takes their luminance.
- 16-bit (radiometric) frames map to [0, 1] by ``normalize``: ``"minmax"`` (default) the frame's own [min, max],
  ``"fixed"`` [0, 65535], ``"range"`` the given ``value_range`` (one mapping for a whole sequence), and back
  through the same map. ``radiometric`` (default: on for 16-bit frames) makes the output's block means equal the
  input's counts (:func:`realiisr.camera.radiometric.back_project`).
- Float arrays and tensors are taken as [0, 1] frames unless ``value_range`` is given or their values leave
  [0, 1] (temperatures in °C or K, as float TIFF): then they map like 16-bit frames and are radiometric.
"""
from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch
from torch import Tensor

__all__ = ["upscale_image", "frame_from_image", "radiometric_values", "NORMALIZE_CHOICES"]

NORMALIZE_CHOICES = ("minmax", "fixed", "range")
_SIXTEEN_BIT = (np.uint16, np.int32, np.uint32, np.int16)
_GREY_MODES = ("L", "I;16", "I;16B", "I;16L", "I", "F")


def _pixels(image: Any, palette: Any) -> tuple[np.ndarray, bool]:
    """The pixel array (``[h, w]``, or ``[h, w, 3]`` uint8 where it goes through a palette) and whether it does."""
    from PIL import Image

    from realiisr.camera.pseudocolour import is_colour

    wants_palette = not (isinstance(palette, str) and palette in ("none", "auto"))
    if isinstance(image, Image.Image):
        if image.mode in _GREY_MODES and not (wants_palette and image.mode == "L"):
            return _grey(np.asarray(image)), False
        image = np.asarray(image.convert("RGB")) if palette != "none" else np.asarray(image.convert("L"))
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[0] == 1:
        array = array[0]
    if array.ndim == 2 and wants_palette and array.dtype == np.uint8:
        return np.repeat(array[..., None], 3, axis=-1), True
    if array.ndim == 3 and array.shape[-1] in (3, 4) and palette != "none" and array.dtype == np.uint8:
        if wants_palette or is_colour(array):
            return array[..., :3], True
    return _grey(array), False


def _grey(array: np.ndarray) -> np.ndarray:
    if array.ndim == 3 and array.shape[-1] in (3, 4):  # H x W x RGB(A): luminance (palette="none" or not 8-bit)
        array = array[..., :3].astype(np.float64).mean(axis=-1).round().astype(array.dtype) \
            if array.dtype.kind in "ui" else array[..., :3].mean(axis=-1)
    if array.ndim == 3 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 2:
        raise ValueError(f"upscale: expected a grey frame [h, w] (or [h, w, 3], [1, h, w]), got shape {array.shape}")
    return array


def _mapping(array: np.ndarray, normalize: str, value_range: Optional[tuple[float, float]]) -> tuple[float, float]:
    kind = array.dtype
    if value_range is not None:
        low, high = (float(v) for v in value_range)
        if not high > low:
            raise ValueError(f"upscale: value_range must rise, got {value_range}")
        return low, high
    if normalize == "range":
        raise ValueError("upscale: normalize='range' needs value_range=(low, high)")
    if kind == np.uint8:
        return 0.0, 255.0
    if kind in _SIXTEEN_BIT:
        if normalize == "fixed":
            return 0.0, 65535.0
        low, high = float(array.min()), float(array.max())
        return low, (high if high > low else low + 1.0)
    if kind.kind != "f":
        raise ValueError(f"upscale: unsupported pixel type {kind} (8-bit, 16-bit or float frames)")
    if not np.isfinite(array).all():
        raise ValueError("upscale: the frame contains NaN or Inf")
    if _outside_unit(array):  # temperatures or counts as float: the frame's own range, as for 16-bit
        low, high = float(array.min()), float(array.max())
        return low, (high if high > low else low + 1.0)
    return 0.0, 1.0


def frame_from_image(image: Any, normalize: str = "minmax", *, palette: Any = "auto",
                     value_range: Optional[tuple[float, float]] = None, what: str = "frame",
                     ) -> tuple[Tensor, Callable[[Tensor], Any], bool]:
    """(``[1, h, w]`` float32 frame in [0, 1], a function that turns the model's ``[1, H, W]`` output back into
    the input's kind, whether the frame is 8-bit). See the module doc for ``palette`` and ``value_range``."""
    from PIL import Image

    from realiisr.camera.pseudocolour import decode_colour_frame, recolour

    if normalize not in NORMALIZE_CHOICES:
        raise ValueError(f"upscale: normalize must be one of {NORMALIZE_CHOICES}, got {normalize!r}")
    if isinstance(image, Tensor) and value_range is None:
        squeeze = image.dim() == 2
        frame = image.detach().float().cpu()
        frame = frame.mean(dim=0, keepdim=True) if frame.dim() == 3 and frame.shape[0] == 3 else frame.reshape(1, *frame.shape[-2:])
        return frame, (lambda out: out[0] if squeeze else out), False
    as_pil, as_tensor = isinstance(image, Image.Image), isinstance(image, Tensor)
    array, coloured = _pixels(image.detach().cpu().numpy() if isinstance(image, Tensor) else image, palette)
    if coloured:
        decoded = decode_colour_frame(array, palette, what=what)

        def restore_colour(out: Tensor) -> Any:
            rgb = recolour(out[0].double().numpy(), decoded)
            rgb = rgb[..., 0] if decoded.palette.is_grey else rgb
            return Image.fromarray(rgb) if as_pil else rgb

        return torch.from_numpy(decoded.values).float()[None], restore_colour, True
    kind = array.dtype
    low, high = _mapping(array, normalize, value_range)
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
        return torch.from_numpy(values) if as_tensor else values

    return frame, restore, kind == np.uint8


def upscale_image(model, image: Any, *, normalize: str = "minmax", palette: Any = "auto",
                  value_range: Optional[tuple[float, float]] = None, radiometric: Optional[bool] = None,
                  what: str = "frame", refine: Optional[Callable[[Tensor, Tensor], Tensor]] = None,
                  window: Sequence[Any] = (), centre: int = 0, back_projection: Optional[int] = None,
                  **settings: Any) -> Any:
    """Super-resolve a whole LR frame of any size, returning the same kind of object (see the module doc).

    ``radiometric``: block means of the output equal the input (default: for 16-bit frames and for frames
    mapped by ``value_range``). ``refine``: applied to the ``[1, H, W]`` output in [0, 1] with the ``[1, h, w]``
    LR frame (the scalar behind a pseudo-colour frame's colours), before the output becomes the input's kind
    again (the temporal blend of colour clips). ``window``: frames of a clip around this one, of the same kind,
    ``window[centre]`` being ``image`` itself: the model reads their motion-compensated fusion
    (:func:`realiisr.inference.window.window_guide`) in place of the frame's bicubic upscale, back-projected onto
    every frame of the window in ``back_projection`` passes (0: the fused bicubics alone; default: the passes the
    model was trained on, its recipe's ``meta.window_back_projection``, else 0). ``settings`` go to
    :class:`realiisr.inference.Upscaler` (overlap, seed, color_fix, cfg, top_k, dtype, ...).
    """
    from realiisr.camera.radiometric import back_project
    from realiisr.inference.upscale import Upscaler

    frame, restore, eight_bit = frame_from_image(image, normalize, palette=palette, value_range=value_range, what=what)
    if radiometric is None:
        radiometric = value_range is not None or _is_radiometric(image)
    settings.setdefault("eight_bit", eight_bit)  # Pillow's 8-bit resize path only for 8-bit frames
    guide = None
    if back_projection is None:
        back_projection = int(model.recipe.meta.get("window_back_projection", 0))
    # a one-frame window (a clip of one distinct frame) is back-projected too, as the shortest training windows are
    if len(window) > 1 or (len(window) == 1 and back_projection > 0):
        from realiisr.inference.window import bicubic_frames, window_guide

        if not 0 <= centre < len(window):
            raise ValueError(f"{what}: centre {centre} outside its window of {len(window)} frames")
        frames = [frame if k == centre else frame_from_image(other, normalize, palette=palette, value_range=value_range,
                                                              what=f"{what} (window frame {k})")[0]
                  for k, other in enumerate(window)]
        if any(f.shape != frame.shape for f in frames):
            raise ValueError(f"{what}: the frames of its window differ in size: {sorted({tuple(f.shape) for f in frames})}")
        guide = window_guide(bicubic_frames(frames, model.scale, settings["eight_bit"]), centre, lows=frames,
                             iterations=back_projection)
    out = Upscaler(model, **settings)(frame, guide=guide)
    if radiometric:
        out = back_project(out[0], frame[0], out.shape[-1] // frame.shape[-1])[None]
    if refine is not None:
        out = refine(out, frame)
    return restore(out)


def _outside_unit(array: np.ndarray) -> bool:
    return array.dtype.kind == "f" and bool(array.size) and (float(array.min()) < 0.0 or float(array.max()) > 1.0)


def _is_radiometric(image: Any) -> bool:
    """16-bit frames and float frames of counts or temperatures (values outside [0, 1])."""
    from PIL import Image

    if isinstance(image, Image.Image):
        return image.mode.startswith("I") or (image.mode == "F" and _outside_unit(np.asarray(image)))
    return isinstance(image, np.ndarray) and (image.dtype in _SIXTEEN_BIT or _outside_unit(image))



def radiometric_values(image: Any) -> Optional[np.ndarray]:
    """The values of a radiometric frame (16-bit, or float outside [0, 1]), ``None`` for any other: what a
    sequence's shared mapping (:func:`realiisr.camera.radiometric.shared_range`) is computed from."""
    return _grey(np.asarray(image)) if _is_radiometric(image) else None
