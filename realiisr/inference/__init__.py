"""Inference: tiled upscaling of frames of any size and bit depth."""
from realiisr.inference.memory import keep_freed_memory
from realiisr.inference.upscale import Upscaler, upscale_frame

__all__ = ["Upscaler", "upscale_frame", "keep_freed_memory"]
