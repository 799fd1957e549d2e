"""Partitioned export (issue #17, docs/scaling.md): N work units at once against one export.

Why: the design of docs/scaling.md runs an export as idempotent work units (tables x
DAGs) on the environment's own workers. Whether that buys anything depends on what the
source database can serve at once, so this measures it on one machine: on a scaled
2.10.5 source (bench/generate.py) it times

1. one ``airshift export`` of everything (``--jobs N``: N tables read at once, one process);
2. the same export split into units, each one ``airshift export`` process (``--jobs 1``),
   run N at a time, largest first, as a pool of N mapped tasks would;

for each N of ``--concurrency``, and checks that the units lose and repeat nothing: per
table, the rows of the units' manifests add up to the rows of the single export's.

How the units are chosen (``plan``): a table is split by DAG when the export's own
``--dag-id`` filter (``RowFilter``) keeps every one of its rows under ``--dag-id '*'``
(each row then belongs to exactly one DAG, so disjoint DAG groups give disjoint rows);
every other table (no DAG, or rows without one: scheduler jobs, the audit log's
UI and CLI events, connections, pools) goes whole into one more unit, together with the
secret tables, whose values the audit log's export masks (``TableSpec.redact``). The
DAGs are spread over ``--groups`` groups by their run counts (largest first). There is no
date-range unit: ``--since`` has no upper bound, so two date ranges cannot be disjoint.

    python -m bench.partitioned --size medium --reuse --keep-source --out partitioned.json
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import sqlalchemy as sa
from cryptography.fernet import Fernet

from airshift.archive.reader import ArchiveReader
from airshift.metadata.registry import spec_of
from airshift.metadata.selection import RowFilter, Selection
from airshift.metadata.source import AirflowDB
from bench import generate, run
from tests.realairflow import build


@dataclass(frozen=True)
class Unit:
    """One work unit: an export of some tables, for some DAGs (none: the tables whole)."""

    name: str
    tables: tuple[str, ...]  # split units: these tables only; the rest unit: all but these
    dag_ids: tuple[str, ...] = ()
    weight: int = 0  # rows expected, to start the largest first

    @property
    def whole(self) -> bool:
        return not self.dag_ids

    def export_args(self) -> list[str]:
        """The ``airshift export`` options that select this unit's rows."""
        flag = "--exclude" if self.whole else "--include"
        return [a for t in self.tables for a in (flag, t)] + [
            a for d in self.dag_ids for a in ("--dag-id", d)
        ]


def splits_by_dag(conn: sa.Connection, table: sa.Table, every_dag: RowFilter, rows: int) -> bool:
    """Whether each of ``table``'s ``rows`` belongs to exactly one DAG under the export's
    own filter: the filter keeps all of them when every DAG is selected. Secret tables and
    the tables whose export masks secrets stay whole (the masking needs the secrets read)."""
    spec = spec_of(table.name)
    cond = every_dag.where(table)
    if cond is None or spec.secrets or spec.redact:
        return False
    kept = sa.select(sa.func.count()).select_from(table).where(cond)
    return conn.execute(kept).scalar_one() == rows


def plan(source_url: str, groups: int) -> list[Unit]:
    """``groups`` units of DAGs (over the tables that split by DAG) plus one unit of
    every other table, whole; largest first."""
    source = AirflowDB.open(source_url)
    try:
        every_dag = RowFilter(source, Selection(dag_globs=["*"]))
        tables = source.metadata.tables
        with source.engine.connect() as conn:
            rows = {
                name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                for name, t in tables.items()
            }
            split = [n for n, t in tables.items() if splits_by_dag(conn, t, every_dag, rows[n])]
            per_dag = _rows_per_dag(conn, [tables[n] for n in split])
    finally:
        source.dispose()
    dags = sorted(every_dag.dag_ids or [], key=lambda d: (-per_dag.get(d, 0), d))
    shares: list[list[str]] = [[] for _ in range(min(groups, len(dags)))]
    loads = [0] * len(shares)
    for dag in dags:  # each DAG to the lightest group so far
        i = loads.index(min(loads))
        shares[i].append(dag)
        loads[i] += per_dag.get(dag, 0)
    units = [
        Unit(f"dags{i + 1}", tuple(split), tuple(share), load)
        for i, (share, load) in enumerate(zip(shares, loads, strict=True))
    ]
    rest = sum(n for t, n in rows.items() if t not in split)
    units.append(Unit("rest", tuple(split), weight=rest))
    return sorted(units, key=lambda u: -u.weight)


def _rows_per_dag(conn: sa.Connection, tables: list[sa.Table]) -> dict[str, int]:
    """Rows per DAG in the tables that name their DAG (the few that do not, such as run
    notes, follow their runs and are left out of this estimate)."""
    out: dict[str, int] = {}
    for t in tables:
        if "dag_id" in t.c:
            for dag, n in conn.execute(sa.select(t.c.dag_id, sa.func.count()).group_by(t.c.dag_id)):
                out[dag] = out.get(dag, 0) + n
    return out


def manifest_rows(archive: Path) -> dict[str, int]:
    """Rows per table of an archive, as its manifest records them."""
    return {n: t.rows for n, t in ArchiveReader(str(archive)).manifest.tables.items()}


def lossless(single: dict[str, int], units: list[dict[str, int]]) -> dict[str, tuple[int, int]]:
    """The tables whose rows the units do not add up to exactly: table -> (single, units)."""
    summed: dict[str, int] = {}
    for rows in units:
        for table, n in rows.items():
            summed[table] = summed.get(table, 0) + n
    return {
        t: (single.get(t, 0), summed.get(t, 0))
        for t in sorted(set(single) | set(summed))
        if single.get(t, 0) != summed.get(t, 0)
    }


@dataclass
class UnitRun:
    """One unit's process within a partitioned export."""

    unit: str
    seconds: float
    peak_rss_mb: float
    rows: int  # rows of its archive (every table)


def run_units(
    units: list[Unit], at_once: int, command, work: Path
) -> tuple[float, list[UnitRun], list[dict[str, int]]]:
    """Every unit as its own process, ``at_once`` at a time, largest first; the wall
    seconds, each unit's run, and each archive's rows per table."""

    def one(unit: Unit) -> tuple[UnitRun, dict[str, int]]:
        to = work / unit.name
        seconds, own, *_ = run.run_measured(command(to, *unit.export_args()))
        rows = manifest_rows(to)
        return UnitRun(unit.name, seconds, own, sum(rows.values())), rows

    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=at_once) as pool:
        done = list(pool.map(one, units))
    return time.monotonic() - t0, [d[0] for d in done], [d[1] for d in done]


def measure(size: str, opts: argparse.Namespace, work: Path, log) -> dict:
    runs = generate.SIZES.get(size) or int(size)
    src, gen_s = run.prepare_source(size, runs, opts.reuse, log)
    counts = generate.counts(run.url(src))
    rows = sum(counts.values())
    log(f"[{size}] source {src}: {rows} history rows (generated in {gen_s:.0f}s)")
    fx2 = build.get_fixture(run.AIRFLOW_2, "postgresql")
    akey = Fernet.generate_key().decode()

    def command(to: Path, *extra: str) -> list[str]:
        return run.export_command(src, to, fx2.fernet_key, akey, *extra)

    def unit_command(to: Path, *extra: str) -> list[str]:
        return command(to, "--jobs", "1", *extra)

    units = plan(run.url(src), opts.groups)
    for u in units:
        log(f"[{size}] unit {u.name}: ~{u.weight} rows, {u.export_args()}")
    results: list[run.Measure] = []
    detail: list[dict] = []
    for at_once in [int(n) for n in opts.concurrency.split(",")]:
        name = f"one export --jobs {at_once}"
        d = work / f"single{at_once}"
        seconds, own, tree, *_ = run.run_measured(command(d, "--jobs", str(at_once)))
        single = manifest_rows(d)
        said = f"airshift export {src} --jobs {at_once}"
        results.append(run.Measure(size, name, seconds, rows, own, tree, said))
        log(f"[{size}] {name}: {seconds:.1f}s, {own:.0f} MB")
        load = os.getloadavg()
        wall, unit_runs, archives = run_units(units, at_once, unit_command, work / "units")
        missing = lossless(single, archives)
        name = f"{len(units)} units, {at_once} at once (--jobs 1 each)"
        peak = max(u.peak_rss_mb for u in unit_runs)
        said = f"{at_once} at a time: airshift export {src} --jobs 1 <the unit's options>"
        results.append(run.Measure(size, name, wall, rows, peak, peak, said))
        shutil.rmtree(d)
        shutil.rmtree(work / "units")
        log(f"[{size}] {name}: {wall:.1f}s, {peak:.0f} MB per process, lossless: {not missing}")
        detail.append(
            {
                "at_once": at_once,
                "single_seconds": seconds,
                "units_seconds": wall,
                "units": [asdict(u) for u in unit_runs],
                "lossless": not missing,
                "mismatched": missing,
                "loadavg_before_units": load,
                "sum_peak_rss_mb": sum(u.peak_rss_mb for u in unit_runs),
            }
        )
        if missing:
            raise SystemExit(f"units lost or repeated rows: {missing}")
    return {
        "source": src,
        "counts": counts,
        "units": [asdict(u) for u in units],
        "results": [asdict(m) | {"rows_per_s": m.rows_per_s} for m in results],
        "partitioned": detail,
        "table": run.table(results) + "\n\n" + units_table(detail),
    }


def units_table(detail: list[dict]) -> str:
    """Each unit's own process per run: where the wall time of the units goes."""
    lines = [
        "| at once | unit | rows | seconds | peak RSS MB |",
        "|---:|---|---:|---:|---:|",
    ]
    for d in detail:
        for u in d["units"]:
            lines.append(
                f"| {d['at_once']} | {u['unit']} | {u['rows']:,} | {u['seconds']:.1f} | "
                f"{u['peak_rss_mb']:.0f} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--size", default="small", help=f"one of {', '.join(generate.SIZES)} or a run count"
    )
    p.add_argument("--groups", type=int, default=3, help="DAG groups (plus one unit: the rest)")
    p.add_argument("--concurrency", default="1,2,4", help="comma list: units run at once")
    p.add_argument("--reuse", action="store_true", help="reuse bench_src_<size> if it exists")
    p.add_argument("--keep-source", action="store_true", help="keep bench_src_<size> afterwards")
    p.add_argument("--out", type=Path, help="write the results as JSON here")
    a = p.parse_args(argv)

    def log(msg: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {msg}", file=sys.stderr, flush=True)

    info = run.machine()
    log(f"machine: {info}")
    try:
        with tempfile.TemporaryDirectory(prefix="airshift-bench-part-") as tmp:
            data = measure(a.size, a, Path(tmp), log)
    finally:
        if not a.keep_source:
            run._drop(f"bench_src_{a.size}")
    info["loadavg_end"] = os.getloadavg()
    command = shlex.join(["python", "-m", "bench.partitioned", *(argv or sys.argv[1:])])
    data = {"machine": info, "command": command, **data}
    print(data["table"])
    if a.out:
        a.out.write_text(json.dumps(data, indent=1))


if __name__ == "__main__":
    main()
