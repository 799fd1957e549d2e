"""Turn a benchmark results file into the tables of docs/benchmarks.md.

Why separate from the runner: the ratios against issues #6's and #17's targets are arithmetic on
measurements taken in one run; keeping that arithmetic here lets anyone re-derive the
published table from the JSON the runner wrote (``python -m bench.report results.json``).
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

from airshift.metadata.importer import PHASES


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
    """Issue #17's targets (and #6's merge-step one), per size, as ratios of measures from
    the same run; then the linearity between sizes. A target with nothing measured for it
    says so instead of being left out."""
    res = data["results"]
    lines = ["| size | target | measured | goal | met |", "|---|---|---:|---:|---|"]
    sizes = list(dict.fromkeys(r["size"] for r in res))
    for size in sizes:
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

        def row(name: str, value: float | None, goal: str, ok: bool, size: str = size) -> None:
            if value is None:
                lines.append(f"| {size} | {name} | not measured | {goal} | - |")
                return
            lines.append(f"| {size} | {name} | {value:.2f} | {goal} | {'yes' if ok else 'NO'} |")

        v = (
            migrate["seconds"] / (copy["seconds"] + inplace["seconds"])
            if (copy and inplace and migrate)
            else None
        )
        row("migrate s / (copy + in-place db migrate) s", v, "<= 1.00", v is not None and v <= 1)
        v = export["rows_per_s"] / floor_x["rows_per_s"] if floor_x and export else None
        row("export rows/s / pg_dump --data-only rows/s", v, ">= 0.90", v is not None and v >= 0.9)
        v = (
            (aws_x["seconds"] + aws_l["seconds"]) / (export["seconds"] + same["seconds"])
            if (aws_x and aws_l and export and same)
            else None
        )
        row("AWS-sample s / same-version airshift s", v, ">= 2.00", v is not None and v >= 2)
        peaks = [r["peak_rss_mb"] for r in res if r["size"] == size and "airshift" in r["name"]]
        v = max(peaks) if peaks else None
        row("peak RSS of an airshift process, MB", v, "< 300", v is not None and v < 300)
        v, said = None, "disk beyond the target / source (migrate: scratch peak + archive)"
        if migrate and migrate.get("disk_mb"):
            d = migrate["disk_mb"]
            arch = (export.get("disk_mb") or {}).get("archive", 0.0) if export else 0.0
            v = (d["scratch"] + arch) / d["source"]
            said += (
                f"; MB: source {d['source']:.0f}, scratch {d['scratch']:.0f}, "
                f"archive {arch:.0f}, target grew {d['target']:.0f}"
            )
        row(said, v, "< 2.00", v is not None and v < 2)
        v = None
        if floor_l and imp and imp["phases"].get("merge"):
            v = imp["rows"] / imp["phases"]["merge"] / floor_l["rows_per_s"]
        row("(#6) merge-step rows/s / floor load rows/s", v, ">= 0.50", v is not None and v >= 0.5)
    for small, big in itertools.pairwise(sizes):
        first, last = _find(res, small, ""), _find(res, big, "")
        if first is None or last is None:
            continue
        row_ratio = last["rows"] / first["rows"]
        for r in res:
            if r["size"] != big or "airshift" not in r["name"]:
                continue
            before = next((x for x in res if x["size"] == small and x["name"] == r["name"]), None)
            if before is None:
                continue
            v = r["seconds"] / before["seconds"] / row_ratio
            name = f"{r['name']}: time ratio / row ratio ({row_ratio:.1f}x rows)"
            lines.append(
                f"| {small} -> {big} | {name} | {v:.2f} | 0.80-1.20 | "
                f"{'yes' if 0.8 <= v <= 1.2 else 'NO'} |"
            )
    return "\n".join(lines)


def phases_table(results: list[dict]) -> str:
    """Where each airshift command's time went, as the command itself reported it (its
    ``--json`` ``seconds``): Airflow's own migrations apart from airshift's steps."""
    lines = ["| size | command | phase | seconds | share |", "|---|---|---|---:|---:|"]
    for r in results:
        said = r.get("reported") or {}
        if not said:
            continue
        rest = r["seconds"] - sum(said.values())
        ordered = [(p, said[p]) for p in PHASES if p in said]
        for phase, seconds in [*ordered, ("rest: process start, inspection, pause", rest)]:
            share = seconds / r["seconds"] if r["seconds"] else 0.0
            lines.append(f"| {r['size']} | {r['name']} | {phase} | {seconds:.1f} | {share:.0%} |")
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
    print(phases_table(data["results"]))
    print()
    print(jobs_table(data["results"]))
    print()
    print(memory_table(data["results"]))


if __name__ == "__main__":
    main()
