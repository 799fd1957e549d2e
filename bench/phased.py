"""Run the airshift CLI in this process with its pipeline steps timed.

Why: ``airshift import`` and ``migrate`` do several things (build a scratch database,
load the archive into it, run Airflow's migrations, merge into the target) and print no
timing. The benchmark needs the merge step on its own (the "load into the live target"
target of issue #6), so this wrapper times the library functions that make up each step
without touching airshift's code, writes them as JSON lines to ``$AIRSHIFT_BENCH_PHASES``,
and then runs the real CLI with the given arguments. Peak RSS is the same process's.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import time


def _timed(module, name: str, label: str, out: str) -> None:
    fn = getattr(module, name)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        t0 = time.time()
        try:
            return fn(*args, **kwargs)
        finally:
            with open(out, "a") as f:
                f.write(json.dumps({"phase": label, "start": t0, "end": time.time()}) + "\n")

    setattr(module, name, wrapper)


def _timed_method(cls, name: str, out: str) -> None:
    """Like ``_timed`` for a merge step, labelled with the table it works on."""
    fn = getattr(cls, name)

    @functools.wraps(fn)
    def wrapper(self, *args, **kwargs):
        table = next((a.name for a in args if hasattr(a, "name")), "?")
        t0 = time.time()
        try:
            return fn(self, *args, **kwargs)
        finally:
            with open(out, "a") as f:
                f.write(
                    json.dumps(
                        {
                            "phase": f"merge.{name.strip('_')}:{table}",
                            "start": t0,
                            "end": time.time(),
                        }
                    )
                    + "\n"
                )

    setattr(cls, name, wrapper)


def patch_null_safe_eq() -> None:
    """EXPERIMENT, opt-in (``AIRSHIFT_BENCH_PATCH_EQ=1``): what the merge costs when its
    null-safe comparisons are hashable.

    ``_Merger._eq`` compares nullable key columns with ``IS NOT DISTINCT FROM``, which
    PostgreSQL can neither hash nor merge nor look up in a b-tree, so every join on a key
    with nullable columns (``log``, ``job``) becomes a nested loop: O(staged x target).
    This replaces it, for the benchmark only, with ``coalesce(a::text, sentinel) =
    coalesce(b::text, sentinel)``, which hash-joins. It is not proposed as the fix (see
    docs/benchmarks.md, Profiling notes); it measures the effect of one.
    """
    import sqlalchemy as sa

    from airshift.metadata import merge

    original = merge._Merger._eq

    def _eq(self, a, b, target_col):
        if not target_col.nullable or self.conn.dialect.name != "postgresql":
            return original(self, a, b, target_col)
        sentinel = sa.literal("\x01<null>")
        return sa.func.coalesce(sa.cast(a, sa.Text), sentinel) == sa.func.coalesce(
            sa.cast(b, sa.Text), sentinel
        )

    merge._Merger._eq = _eq


def patch_analyze() -> None:
    """EXPERIMENT, opt-in (``AIRSHIFT_BENCH_PATCH_ANALYZE=1``): the merge with statistics.

    The merge's staging and map tables are TEMPORARY, which autovacuum never analyzes, and
    the target tables it has just filled inside its one transaction still carry the
    statistics of before the import. PostgreSQL then plans every set-based statement for
    a handful of rows and picks nested loops: ``link_dag_versions`` alone took 29 s at
    10k runs, quadratic in task instances. This runs ``ANALYZE`` on the staging table
    after it is filled, on the target table after the insert, and on the map table after
    it is built, for the benchmark only, to measure what that fix is worth.
    """
    from airshift.metadata import merge

    def analyze(conn, table) -> None:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f'ANALYZE "{table.name}"')

    stage, write, build_map = merge._Merger._stage, merge._Merger._write, merge._Merger._build_map

    def _stage(self, scratch, src, s, names, progress):
        n = stage(self, scratch, src, s, names, progress)
        analyze(self.conn, s)
        return n

    def _write(self, spec, s, t, names, res):
        write(self, spec, s, t, names, res)
        analyze(self.conn, t)
        analyze(self.conn, s)

    def _build_map(self, spec, s, t):
        build_map(self, spec, s, t)
        analyze(self.conn, self.maps[spec.name])

    merge._Merger._stage, merge._Merger._write = _stage, _write
    merge._Merger._build_map = _build_map


def install(out: str) -> None:
    """Wrap the pipeline steps; each call appends one JSON line to ``out``."""
    from airshift.metadata import extract, importer, losses, scratch

    _timed(extract, "export", "export", out)
    _timed(importer, "export", "export", out)
    _timed(scratch, "build_at", "scratch_build", out)
    _timed(scratch, "load_archive", "scratch_load", out)
    _timed(scratch, "migrate_to", "airflow_db_migrate", out)
    _timed(losses, "task_fail_to_history", "task_fail_to_history", out)
    _timed(importer, "merge", "merge", out)
    if os.environ.get("AIRSHIFT_BENCH_MERGE_STEPS"):
        from airshift.metadata import merge

        for method in (
            "_stage",
            "_remap",
            "_keep_with_parent",
            "_classify",
            "_write",
            "_build_map",
            "_differing",
        ):
            _timed_method(merge._Merger, method, out)


def main() -> None:
    if os.environ.get("AIRSHIFT_BENCH_PATCH_EQ"):
        patch_null_safe_eq()
    if os.environ.get("AIRSHIFT_BENCH_PATCH_ANALYZE"):
        patch_analyze()
    out = os.environ.get("AIRSHIFT_BENCH_PHASES")
    if out:
        install(out)
    from airshift.cli import main as cli_main

    sys.argv = ["airshift", *sys.argv[1:]]
    cli_main()


if __name__ == "__main__":
    main()
