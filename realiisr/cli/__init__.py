"""The ``realiisr`` command line."""
from __future__ import annotations

import argparse
import logging
import sys
from typing import Optional, Sequence

__all__ = ["main", "console_main"]


def _build_parser() -> argparse.ArgumentParser:
    from realiisr import __version__
    from realiisr.cli import ablate, benchmark, convert, demo, evaluate, info, pack, train, upscale

    parser = argparse.ArgumentParser(prog="realiisr", description="Real-world infrared image super-resolution.")
    parser.add_argument("--version", action="version", version=f"realiisr {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (info, demo, upscale, evaluate, benchmark, convert, pack, train, ablate):
        module.add_parser(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from realiisr.core import RegistryError
    from realiisr.core.weights import WeightsError

    try:
        return int(args.run(args) or 0)
    except (RegistryError, WeightsError, ValueError) as exc:
        print(f"realiisr {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def console_main() -> int:
    """The ``realiisr`` executable: :func:`main` in a process whose allocator keeps freed buffers
    (:mod:`realiisr.inference.memory`; ``REALIISR_KEEP_FREED_MEMORY=0`` turns that off). ``main`` itself changes
    nothing process-wide, so calling it from Python (or a test) leaves the allocator alone."""
    from realiisr.inference.memory import keep_freed_memory_unless_disabled

    keep_freed_memory_unless_disabled()
    return main()
