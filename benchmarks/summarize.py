"""One line per benchmark from pytest-benchmark JSON files: group, implementation, median, and the eager (or
baseline) median over this one's, all from the same run.

    python benchmarks/summarize.py bench.json [more.json ...]
"""
from __future__ import annotations

import json
import sys
from collections import defaultdict


def _impl(bench: dict) -> str:
    return bench.get("extra_info", {}).get("impl") or bench["name"].split("[", 1)[-1].rstrip("]")


def summarize(paths: list[str]) -> list[str]:
    groups: dict[str, list[dict]] = defaultdict(list)
    for path in paths:
        with open(path) as handle:
            for bench in json.load(handle)["benchmarks"]:
                groups[bench["group"] or bench["name"]].append(bench)
    lines = []
    for group in sorted(groups):
        rows = groups[group]
        eager = [b["stats"]["median"] for b in rows if _impl(b) == "eager"]
        lines.append(group)
        for bench in sorted(rows, key=_impl):
            median = bench["stats"]["median"]
            ratio = f"  eager/this {eager[0] / median:5.2f}x" if eager else ""
            extra = bench.get("extra_info", {})
            more = "".join(f"  {key} {extra[key]:.3g}" for key in ("images_per_s", "kernel_launches") if key in extra)
            lines.append(f"    {_impl(bench):<28} median {median * 1e3:10.3f} ms{ratio}{more}")
    return lines


if __name__ == "__main__":
    print("\n".join(summarize(sys.argv[1:])))
