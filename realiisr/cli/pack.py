"""``realiisr pack-frames``: HR training crops of frame folders in one compressed ``.npz`` file."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

__all__ = ["add_parser"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("pack-frames", help="pack HR training crops of frame folders into one .npz file")
    parser.add_argument("sources", nargs="+", help="frame folders; DIR@N shrinks that folder's frames N times first")
    parser.add_argument("-o", "--out", type=Path, required=True, help="the .npz file to write")
    parser.add_argument("--crop", type=int, default=144, help="crop side in pixels (default 144)")
    parser.add_argument("--per-frame", type=int, default=2, help="random crops per frame (default 2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--exclude-sweep-holdout", action="store_true",
                        help="leave out the frames that `realiisr evaluate --sweep` uses (HIT-UAV's 100 m sequences)")
    parser.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    from realiisr.data.packed import pack_crops, parse_source

    if args.out.suffix != ".npz":
        raise ValueError(f"--out {str(args.out)!r} must end in .npz")
    manifest = pack_crops([parse_source(s) for s in args.sources], args.out, crop=args.crop,
                          per_frame=args.per_frame, seed=args.seed, exclude_sweep_holdout=args.exclude_sweep_holdout)
    print(json.dumps({**manifest, "bytes": args.out.stat().st_size}))
    return 0
