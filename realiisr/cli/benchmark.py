"""``realiisr benchmark``: methods side by side on a folder of real pairs (``DIR/HR``, ``DIR/LR``).

    realiisr benchmark --data PAIRS_DIR --methods bicubic,lanczos,real_iisr_x4_flir [--sweep HR_DIR] [-o OUT]

Methods: ``realiisr.methods`` names (built in: bicubic, lanczos; plugins add more), recipes that ship weights, or
``RECIPE.yaml:WEIGHTS``. Writes benchmark.md / .csv / .json (settings, versions, machine) and a figure per pair.
No-reference columns: thermal NIQE, NIQE (``--niqe-model``), BRISQUE (the ``brisque`` wheel's model), MUSIQ and
CLIP-IQA (pyiqa, local weights only); LPIPS beside the full-reference scores when its weights are local.
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
                        help="the standard NIQE model file (default: ../shared/data/metrics/niqe_pris_params.npz "
                             "where ../shared is found)")
    parser.add_argument("--sweep", type=Path, default=None,
                        help="folder of HR frames: every method on the degradation sweep too (gain per blur width)")
    parser.add_argument("--sweep-frames", type=int, default=8, help="with --sweep: frames used (default 8)")
    parser.add_argument("--brisque-model", type=Path, default=None,
                        help="folder with BRISQUE's svm.txt and normalize.pickle (default: the brisque wheel's)")
    parser.add_argument("--dtype", choices=("auto", "float32", "bfloat16"), default="auto")
    parser.add_argument("--no-figures", action="store_true")
    parser.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    from realiisr.evaluation.benchmark import add_sweep, run_benchmark
    from realiisr.evaluation.no_reference import no_reference_metrics
    from realiisr.methods import resolve_method

    names = [n.strip() for n in args.methods.split(",") if n.strip()]
    if not names:
        raise ValueError("--methods names no method")
    methods = {name: resolve_method(name, dtype=args.dtype) for name in names}
    niqe_model = args.niqe_model
    if niqe_model is None:
        from realiisr.data.samples import find_shared_dir

        shared = find_shared_dir()
        found = shared / "data" / "metrics" / "niqe_pris_params.npz" if shared is not None else None
        niqe_model = found if found is not None and found.is_file() else None
    scorers, unavailable = no_reference_metrics(niqe_model, brisque_model=args.brisque_model)
    result = run_benchmark(args.data, methods, no_reference=scorers, unavailable=unavailable,
                           metric_names=("psnr", "ssim", "lpips"),
                           figures=None if args.no_figures else args.out / "figures")
    if args.sweep is not None:
        add_sweep(result, methods, args.sweep, frames=args.sweep_frames)
    result.write(args.out)
    print(result.markdown())
    print(f"wrote {args.out}/benchmark.md, benchmark.csv, benchmark.json" + ("" if args.no_figures else
                                                                           f" and {args.out}/figures/"))
    return 1 if result.failures else 0
