"""``realiisr convert``: a reference checkpoint → safetensors weights plus the recipe that loads them."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

__all__ = ["add_parser"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "convert", help="convert a reference Real-IISR checkpoint (.pth) to safetensors and a recipe YAML"
    )
    parser.add_argument("checkpoint", type=Path, help="Real-IISR.pth (['trainer']['var_wo_ddp']) or a bare state dict")
    parser.add_argument("-o", "--out", type=Path, required=True, help="output .safetensors path (the .yaml goes beside it)")
    parser.add_argument(
        "--config", type=Path, default=None,
        help="JSON with the reference constructor arguments (build_var kwargs or a golden sidecar); default: the paper's full size",
    )
    parser.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    from realiisr.convert.reference import convert_checkpoint

    config = None
    if args.config is not None:
        data = json.loads(args.config.read_text())
        config = data.get("config", data)
    recipe, out = convert_checkpoint(args.checkpoint, args.out, config)
    print(f"wrote {out} and {out.with_suffix('.yaml')} (recipe {recipe.name!r}); "
          f"load with realiisr.build({str(out.with_suffix('.yaml'))!r}, pretrained=True)")
    return 0
