"""Benchmarks from pytest-benchmark JSON files: group, implementation, median, and the eager (or baseline)
median over this one's, all from the same run.

    python benchmarks/summarize.py bench.json [more.json ...]              one line per benchmark
    python benchmarks/summarize.py --markdown bench.json [more.json ...]   one dated table per device (docs/)
"""
from __future__ import annotations

import argparse
import json
from collections import defaultdict

EXTRA = (("images_per_s", "images/s"), ("kernel_launches", "launches"), ("host_launch_calls", "host launches"),
         ("tiles_per_s", "tiles/s"))


def _impl(bench: dict) -> str:
    return bench.get("extra_info", {}).get("impl") or bench["name"].split("[", 1)[-1].rstrip("]")


def _device(run: dict) -> str:
    """``NVIDIA H200, torch 2.11 cu130`` or ``AMD EPYC, 2 cores (AVX512), torch 2.15``."""
    info = run.get("machine_info", {})
    torch_version = info.get("torch", "torch ?")
    if info.get("cuda_device"):
        return f"{info['cuda_device']}, torch {torch_version}"
    cpu = info.get("cpu", {})
    isa = f" ({info['torch_cpu_capability']})" if info.get("torch_cpu_capability") else ""
    return f"{cpu.get('brand_raw', 'CPU')}, {cpu.get('count', '?')} cores{isa}, torch {torch_version}"


def _load(paths: list[str]) -> list[tuple[str, str, dict]]:
    """(date, device, benchmark) for every benchmark of every file."""
    rows = []
    for path in paths:
        with open(path) as handle:
            run = json.load(handle)
        for bench in run["benchmarks"]:
            rows.append((run.get("datetime", "")[:10], _device(run), bench))
    return rows


def _grouped(benches: list[dict]) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = defaultdict(list)
    for bench in benches:
        groups[bench["group"] or bench["name"]].append(bench)
    return groups


def _eager_median(rows: list[dict]) -> float | None:
    eager = [b["stats"]["median"] for b in rows if _impl(b) == "eager"]
    return eager[0] if eager else None


def summarize(paths: list[str]) -> list[str]:
    lines = []
    groups = _grouped([bench for _, _, bench in _load(paths)])
    for group in sorted(groups):
        rows = groups[group]
        eager = _eager_median(rows)
        lines.append(group)
        for bench in sorted(rows, key=_impl):
            median = bench["stats"]["median"]
            ratio = f"  eager/this {eager / median:5.2f}x" if eager else ""
            extra = bench.get("extra_info", {})
            more = "".join(f"  {key} {extra[key]:.3g}" for key, _ in EXTRA if key in extra)
            lines.append(f"    {_impl(bench):<28} median {median * 1e3:10.3f} ms{ratio}{more}")
    return lines


def markdown(paths: list[str]) -> list[str]:
    """One table per (date, device): every case with its median, the eager median over it and the extras."""
    tables: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for date, device, bench in _load(paths):
        tables[(date, device)].append(bench)
    lines: list[str] = []
    for (date, device), benches in sorted(tables.items()):
        lines += [f"## {date}, {device}", "", "| case | impl | median | eager / this | "
                  + " | ".join(label for _, label in EXTRA) + " |", "|---|---|---|---|" + "---|" * len(EXTRA)]
        groups = _grouped(benches)
        for group in sorted(groups):
            eager = _eager_median(groups[group])
            for bench in sorted(groups[group], key=_impl):
                median, extra = bench["stats"]["median"], bench.get("extra_info", {})
                ratio = f"{eager / median:.2f}×" if eager else ""
                more = " | ".join(f"{extra[key]:.3g}" if key in extra else "" for key, _ in EXTRA)
                lines.append(f"| {group.replace('|', ' · ')} | {_impl(bench)} | {median * 1e3:.3f} ms | {ratio} | {more} |")
        lines.append("")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true", help="one dated table per device, for docs/benchmarks.md")
    parser.add_argument("json", nargs="+")
    args = parser.parse_args(argv)
    print("\n".join(markdown(args.json) if args.markdown else summarize(args.json)))


if __name__ == "__main__":
    main()
