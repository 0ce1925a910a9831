"""Build script: the `realiisr._C` op library (CPU always; CUDA when a toolkit matching torch is found).

Environment knobs:
  REALIISR_BUILD_EXT=0        pure-Python install (every op runs its eager PyTorch reference).
  REALIISR_WITH_CUDA=auto|0|1 compile the CUDA kernels: `auto` (default) when torch has CUDA and nvcc is
                              found; never decided by torch.cuda.is_available(), which is false on GPU-less
                              build machines such as CI.
  CUDA_HOME                   the toolkit; defaults to pip's `nvidia/cu13` next to torch, then torch's finder.
  TORCH_CUDA_ARCH_LIST        defaults to "8.0;9.0" (Ampere, Hopper) when no GPU is visible.
  MAX_JOBS                    parallel compile jobs (default 2: each nvcc job needs ~1.5 GiB).
  REALIISR_DEBUG=1            -O0 -g.
"""
from __future__ import annotations

import os
import site
import sys
from pathlib import Path

from setuptools import setup

ROOT = Path(__file__).resolve().parent
CSRC = ROOT / "csrc"


def _flag(name: str, default: str) -> str:
    return os.environ.get(name, default).strip().lower()


def _pip_cuda_home() -> Path | None:
    """The pip `cuda-toolkit` (nvidia/cu13) beside torch, which matches torch's CUDA exactly."""
    for base in [*site.getsitepackages(), site.getusersitepackages()]:
        candidate = Path(base) / "nvidia" / "cu13"
        if (candidate / "bin" / "nvcc").is_file():
            return candidate
    return None


def _cuda_home_for_build() -> Path | None:
    if os.environ.get("CUDA_HOME"):
        return Path(os.environ["CUDA_HOME"])
    found = _pip_cuda_home()
    if found is not None:
        # torch.utils.cpp_extension reads CUDA_HOME when it is imported, so set it first.
        os.environ["CUDA_HOME"] = str(found)
    return found


def _cudart_link_dir(cuda_home: Path) -> Path | None:
    """pip's toolkit ships only libcudart.so.13; give the linker a libcudart.so inside our build dir."""
    lib = cuda_home / "lib"
    if (lib / "libcudart.so").exists() or not (lib / "libcudart.so.13").exists():
        return None
    link_dir = ROOT / "build" / "cuda-link"
    link_dir.mkdir(parents=True, exist_ok=True)
    link = link_dir / "libcudart.so"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(lib / "libcudart.so.13")
    return link_dir


def _sources(pattern: str) -> list[str]:
    return sorted(str(p.relative_to(ROOT)) for p in CSRC.glob(pattern))


def extensions() -> tuple[list, dict]:
    if _flag("REALIISR_BUILD_EXT", "1") in ("0", "false", "no", "off"):
        print("realiisr: REALIISR_BUILD_EXT=0, building without the C++/CUDA extension", file=sys.stderr)
        return [], {}
    want_cuda = _flag("REALIISR_WITH_CUDA", "auto")
    if want_cuda != "0":
        _cuda_home_for_build()  # sets CUDA_HOME before torch.utils.cpp_extension reads it

    import torch
    from torch.utils import cpp_extension

    torch_cuda = torch.version.cuda
    with_cuda = want_cuda == "1" or (
        want_cuda == "auto" and torch_cuda is not None and cpp_extension.CUDA_HOME is not None
    )
    if want_cuda == "1" and (torch_cuda is None or cpp_extension.CUDA_HOME is None):
        raise RuntimeError(
            f"REALIISR_WITH_CUDA=1 but torch.version.cuda={torch_cuda!r} and CUDA_HOME={cpp_extension.CUDA_HOME!r}"
        )
    sources = ["csrc/module.cpp", "csrc/register.cpp", *_sources("ops/*.cpp"), *_sources("ops/cpu/*.cpp")]
    debug = _flag("REALIISR_DEBUG", "0") == "1"
    opt = ["-O0", "-g"] if debug else ["-O3"]
    defines = [
        f'-DREALIISR_TORCH_VERSION="{torch.__version__}"',
        '-DREALIISR_BUILD_SYSTEM="setup.py"',
    ]
    # -fno-trapping-math (clang's default) lets GCC vectorise the clamps and selects of the CPU kernels' float
    # loops (e.g. the exp of the GroupNorm+SiLU kernel); no kernel reads the floating-point exception flags.
    # -fopenmp: at::parallel_for is an inline template that runs serially unless its caller is compiled with
    # OpenMP. Linking it records libgomp.so.1, which resolves to the copy torch (Linux wheels) has loaded.
    openmp = ["-fopenmp"] if sys.platform.startswith("linux") else []
    cxx = [*opt, "-std=c++20", "-fno-trapping-math", *openmp, *defines]
    kwargs: dict = {"include_dirs": [str(CSRC)], "extra_compile_args": {"cxx": cxx}, "extra_link_args": openmp}
    if with_cuda:
        archs = os.environ.setdefault("TORCH_CUDA_ARCH_LIST", "8.0;9.0")
        cuda_defines = ["-DREALIISR_WITH_CUDA", f'-DREALIISR_CUDA_VERSION="{torch_cuda}"',
                        f'-DREALIISR_CUDA_ARCHS="{archs}"']
        kwargs["extra_compile_args"] = {
            "cxx": [*cxx, *cuda_defines],
            "nvcc": [*opt, "-std=c++20", "--expt-relaxed-constexpr", *defines, *cuda_defines],
        }
        link_dir = _cudart_link_dir(Path(cpp_extension.CUDA_HOME))
        if link_dir is not None:
            kwargs["library_dirs"] = [str(link_dir)]
        sources += _sources("ops/cuda/*.cu")
        ext = cpp_extension.CUDAExtension("realiisr._C", sources, **kwargs)
    else:
        ext = cpp_extension.CppExtension("realiisr._C", sources, **kwargs)
    print(f"realiisr: building realiisr._C with CUDA={'yes' if with_cuda else 'no'}", file=sys.stderr)
    os.environ.setdefault("MAX_JOBS", "2")
    return [ext], {"build_ext": cpp_extension.BuildExtension.with_options(use_ninja=True)}


ext_modules, cmdclass = extensions()
setup(ext_modules=ext_modules, cmdclass=cmdclass)
