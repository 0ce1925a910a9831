"""realiisr: real-world infrared image super-resolution (Real-IISR, CVPR 2026).

    >>> import realiisr
    >>> realiisr.list_recipes()                      # doctest: +SKIP
    >>> model = realiisr.build("real_iisr_x4")       # doctest: +SKIP
"""
from realiisr._version import __version__
from realiisr.core import (
    CODEBOOKS,
    GENERATORS,
    GUIDANCE,
    PHYSICS_LOSSES,
    RECIPES,
    TOKENIZERS,
    ComponentSpec,
    PluginLoadError,
    RealIISR,
    Recipe,
    RegistryError,
    UnknownNameError,
    WeightsSpec,
    build,
    get_recipe,
    list_components,
    list_recipes,
    register_recipe,
)

__all__ = [
    "CODEBOOKS",
    "GENERATORS",
    "GUIDANCE",
    "PHYSICS_LOSSES",
    "RECIPES",
    "TOKENIZERS",
    "ComponentSpec",
    "PluginLoadError",
    "RealIISR",
    "Recipe",
    "RegistryError",
    "UnknownNameError",
    "WeightsSpec",
    "__version__",
    "build",
    "get_recipe",
    "list_components",
    "list_recipes",
    "register_recipe",
]
