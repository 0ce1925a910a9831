"""The clip options `realiisr upscale` and `realiisr evaluate --clip` share, so both run a clip the same way."""
from __future__ import annotations

import argparse

__all__ = ["add_clip_options"]


def add_clip_options(parser: argparse.ArgumentParser, scope: str) -> None:
    """``--stabilise``, ``--temporal``, ``--back-projection`` and ``--fuse-outputs``; ``scope`` starts each help
    text (which inputs the option applies to)."""
    parser.add_argument("--stabilise", type=float, default=None, metavar="STRENGTH",
                        help=f"{scope}: blend each frame with the last one along the motion, where they agree "
                        "(default 0.6 with --temporal 0, off with a window; 0: off)")
    parser.add_argument("--temporal", type=int, default=2, metavar="N",
                        help=f"{scope}: the model reads each frame's window of N frames on each side, fused along the "
                        "motion (default 2; 0: each frame alone); with the default recipe, clips use its window model")
    parser.add_argument("--back-projection", type=int, default=None, metavar="PASSES",
                        help=f"{scope}, with --temporal N: the fused window is back-projected onto every LR frame of "
                        "the window in PASSES passes (default: as the model was trained, 3 for the shipped window "
                        "model; 0: the fused bicubics)")
    parser.add_argument("--fuse-outputs", action=argparse.BooleanOptionalAction, default=True,
                        help=f"{scope}, with --temporal N: each frame written is the mean of the model's outputs over "
                        "its window, brought onto it along the motion (default on)")
