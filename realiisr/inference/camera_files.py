"""Camera files through the upscale path: a FLIR FFF frame or radiometric JPEG becomes a float TIFF of
temperatures ×scale, a palette preview and a JSON sidecar with the camera's metadata and calibration."""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Union

import numpy as np

__all__ = ["upscale_flir_file", "UNITS"]

_LOG = logging.getLogger(__name__)
UNITS = ("C", "K")


def upscale_flir_file(model, path: Union[str, Path], out: Union[str, Path], *, unit: str = "C",
                      palette: Any = "ironbow", **settings: Any) -> list[Path]:
    """Upscale the temperatures of a FLIR file (radiometric: every output block's mean is its input pixel's
    temperature) and write ``OUT/<stem>.tiff`` (float32, °C or K; the sidecar's JSON also in its
    ImageDescription tag), ``OUT/<stem>.preview.png`` (``palette`` over the frame's range) and
    ``OUT/<stem>.json``. Returns the written paths. ``settings`` go to :class:`realiisr.inference.Upscaler`."""
    from PIL import Image

    from realiisr.camera.flir import read_flir
    from realiisr.camera.palettes import Palette, get_palette
    from realiisr.inference.images import upscale_image

    if unit not in UNITS:
        raise ValueError(f"upscale: unit must be one of {UNITS}, got {unit!r}")
    path, out = Path(path), Path(out)
    frame = read_flir(path)
    celsius = frame.celsius()
    low, high = float(celsius.min()), float(celsius.max())
    result = upscale_image(model, celsius, value_range=(low, high if high > low else low + 1.0), radiometric=True,
                           what=str(path), **settings)
    scale = result.shape[0] // celsius.shape[0]
    blocks = result.reshape(celsius.shape[0], scale, celsius.shape[1], scale).mean(axis=(1, 3))
    offset = 273.15 if unit == "K" else 0.0
    sidecar = {
        "source": path.name, "unit": unit, "scale": scale, "recipe": model.recipe.name,
        "shape": list(result.shape), "input_shape": list(celsius.shape),
        "temperature_range": [low + offset, high + offset],
        "largest_block_mean_error_k": float(np.abs(blocks - celsius).max()),
        "camera": frame.metadata, "calibration": frame.calibration,
    }
    out.mkdir(parents=True, exist_ok=True)
    written = [out / f"{path.stem}.tiff", out / f"{path.stem}.preview.png", out / f"{path.stem}.json"]
    text = json.dumps(sidecar, indent=2)
    Image.fromarray((result + offset).astype(np.float32), mode="F").save(written[0], tiffinfo={270: text})
    colours = palette if isinstance(palette, Palette) else get_palette("ironbow" if palette in ("auto", "none") else palette)
    span = max(high - low, 1e-6)
    Image.fromarray(colours.colour((result - low) / span)).save(written[1])
    written[2].write_text(text + "\n")
    _LOG.info("%s: %dx%d → %dx%d temperatures, %.2f to %.2f %s", path, *celsius.shape[::-1], *result.shape[::-1],
              low + offset, high + offset, unit)
    return written
