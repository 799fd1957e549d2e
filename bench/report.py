"""Turn a benchmark results file into the tables of docs/benchmarks.md.

Why separate from the runner: the ratios against issue #6's targets are arithmetic on
measurements taken in one run; keeping that arithmetic here lets anyone re-derive the
published table from the JSON the runner wrote (``python -m bench.report results.json``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _find(results: list[dict], size: str, prefix: str) -> dict | None:
    return next((r for r in results if r["size"] == size and r["name"].startswith(prefix)), None)


def steps_table(results: list[dict]) -> str:
    """Seconds, rows/s and peak RSS of every measured command."""
    lines = [
        "| size | step | seconds | rows/s | peak RSS MB | largest process in tree MB |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in results:
        late = " (interrupted)" if r.get("timed_out") else ""
        lines.append(
            f"| {r['size']} | {r['name'].replace('|', chr(92) + '|')} | {r['seconds']:.1f}{late} | "
            f"{r['rows_per_s']:,.0f} | {r['peak_rss_mb']:.0f} | {r['tree_rss_mb']:.0f} |"
        )
    return "\n".join(lines)


def targets_table(data: dict) -> str:
    """Issue #6's targets, per size, as ratios of measures from the same run."""
    res = data["results"]
    lines = ["| size | target | measured | goal | met |", "|---|---|---:|---:|---|"]
    for size in dict.fromkeys(r["size"] for r in res):
        floor_x = _find(res, size, "floor export")
        floor_l = _find(res, size, "floor load")
        aws_x = _find(res, size, "aws-sample export")
        aws_l = _find(res, size, "aws-sample load")
        copy = _find(res, size, "in-place 1/2")
        inplace = _find(res, size, "in-place 2/2")
        export = _find(res, size, "airshift export")
        migrate = _find(res, size, "airshift migrate")
        same = _find(res, size, "airshift import (same version")
        imp = _find(res, size, "airshift import (upgraded archive")

        def row(name: str, value: float, goal: str, ok: bool, size: str = size) -> None:
            lines.append(f"| {size} | {name} | {value:.2f} | {goal} | {'yes' if ok else 'NO'} |")

        if floor_x and export:
            v = export["rows_per_s"] / floor_x["rows_per_s"]
            row("export rows/s / floor export rows/s", v, ">= 0.50", v >= 0.5)
        if floor_l and imp and imp["phases"].get("merge"):
            merge_rps = imp["rows"] / imp["phases"]["merge"]
            v = merge_rps / floor_l["rows_per_s"]
            row("merge-step rows/s / floor load rows/s (3.3.2 target)", v, ">= 0.50", v >= 0.5)
        if copy and inplace and migrate:
            v = migrate["seconds"] / (copy["seconds"] + inplace["seconds"])
            row("migrate s / (copy + in-place db migrate) s", v, "<= 2.00", v <= 2)
        if aws_x and aws_l and export and same:
            v = (aws_x["seconds"] + aws_l["seconds"]) / (export["seconds"] + same["seconds"])
            row("AWS-sample s / same-version airshift s", v, ">= 1.40", v >= 1.4)
        peaks = [r["peak_rss_mb"] for r in res if r["size"] == size and "airshift" in r["name"]]
        if peaks:
            v = max(peaks)
            row("peak RSS of an airshift process, MB", v, "< 300", v < 300)
    return "\n".join(lines)


def jobs_table(results: list[dict]) -> str:
    """The --jobs speed-up curve: seconds and speed-up over --jobs 1, per size and command."""
    lines = ["| size | command | --jobs | seconds | speed-up |", "|---|---|---:|---:|---:|"]
    for r in results:
        name, _, j = r["name"].partition(" --jobs ")
        if not j:
            continue
        one = _find(results, r["size"], f"{name} --jobs 1")
        up = one["seconds"] / r["seconds"] if one else float("nan")
        lines.append(f"| {r['size']} | {name} | {j} | {r['seconds']:.1f} | {up:.2f}x |")
    return "\n".join(lines)


def memory_table(results: list[dict]) -> str:
    """Peak RSS of each airshift command at every size, and its growth from the smallest
    size to the largest: the "flat memory" target of issue #6."""
    sizes = list(dict.fromkeys(r["size"] for r in results))
    names = list(dict.fromkeys(r["name"] for r in results if "airshift" in r["name"]))
    lines = [
        "| command | " + " | ".join(f"{s} MB" for s in sizes) + " | growth | < 300 MB |",
        "|---|" + "---:|" * len(sizes) + "---:|---|",
    ]
    for name in names:
        peaks = [
            next((r["peak_rss_mb"] for r in results if r["size"] == s and r["name"] == name), None)
            for s in sizes
        ]
        seen = [p for p in peaks if p is not None]
        growth = f"{seen[-1] / seen[0]:.2f}x" if len(seen) > 1 else "-"
        cells = " | ".join("-" if p is None else f"{p:.0f}" for p in peaks)
        lines.append(f"| {name} | {cells} | {growth} | {'yes' if max(seen) < 300 else 'NO'} |")
    return "\n".join(lines)


def main() -> None:
    data = json.loads(Path(sys.argv[1]).read_text())
    print("machine:", json.dumps(data["machine"]))
    print("rows:", json.dumps(data["counts"]))
    print()
    print(steps_table(data["results"]))
    print()
    print(targets_table(data))
    print()
    print(jobs_table(data["results"]))
    print()
    print(memory_table(data["results"]))


if __name__ == "__main__":
    main()
