"""``realiisr benchmark``: methods side by side on a folder of real pairs (``DIR/HR``, ``DIR/LR``).

    realiisr benchmark --data PAIRS_DIR --methods bicubic,lanczos,real_iisr_x4_flir [-o OUT]

Methods: ``realiisr.methods`` names (built in: bicubic, lanczos; plugins add more), recipes that ship weights, or
``RECIPE.yaml:WEIGHTS``. Writes benchmark.md / .csv / .json (settings, versions, machine) and a figure per pair.
"""
from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_parser"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("benchmark", help="methods side by side on real pairs: full- and no-reference scores, time")
    parser.add_argument("--data", type=Path, required=True, help="folder with LR/ and HR/ (LR-only frames allowed)")
    parser.add_argument("--methods", default="bicubic,real_iisr_x4_flir", help="comma-separated method names")
    parser.add_argument("-o", "--out", type=Path, default=Path("benchmark"))
    parser.add_argument("--niqe-model", type=Path, default=None,
                        help="the standard NIQE model file (../shared/data/metrics/niqe_pris_params.npz)")
    parser.add_argument("--dtype", choices=("auto", "float32", "bfloat16"), default="auto")
    parser.add_argument("--no-figures", action="store_true")
    parser.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    from realiisr.evaluation.benchmark import run_benchmark
    from realiisr.evaluation.niqe import no_reference_scores
    from realiisr.methods import resolve_method

    names = [n.strip() for n in args.methods.split(",") if n.strip()]
    if not names:
        raise ValueError("--methods names no method")
    methods = {name: resolve_method(name, dtype=args.dtype) for name in names}
    result = run_benchmark(args.data, methods, no_reference=no_reference_scores(args.niqe_model),
                           figures=None if args.no_figures else args.out / "figures")
    result.write(args.out)
    print(result.markdown())
    print(f"wrote {args.out}/benchmark.md, benchmark.csv, benchmark.json" + ("" if args.no_figures else
                                                                           f" and {args.out}/figures/"))
    return 1 if result.failures else 0
