"""Inference: tiled upscaling of frames of any size and bit depth."""
from realiisr.inference.upscale import Upscaler, upscale_frame

__all__ = ["Upscaler", "upscale_frame"]
