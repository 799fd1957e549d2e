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


def install(out: str) -> None:
    """Wrap the pipeline steps; each call appends one JSON line to ``out``."""
    from airshift.backends import pg_bulk
    from airshift.metadata import extract, importer, losses, scratch

    _timed(extract, "export", "export", out)
    _timed(importer, "export", "export", out)
    _timed(scratch, "build_at", "scratch_build", out)
    _timed(scratch, "load_archive", "scratch_load", out)
    _timed(scratch, "migrate_to", "airflow_db_migrate", out)
    _timed(losses, "task_fail_to_history", "task_fail_to_history", out)
    _timed(importer, "merge", "merge", out)
    # Re-creating indexes and foreign keys set aside (inside scratch_load and merge).
    _timed(pg_bulk, "restore", "pg_bulk_restore", out)
    if os.environ.get("AIRSHIFT_BENCH_MERGE_STEPS"):
        from airshift.metadata import merge, rows_from

        for cls in (rows_from.ArchiveRows, rows_from.ScratchRows):
            _timed_method(cls, "stage", out)

        for method in (
            "_key_lookup",
            "_index",
            "_remap",
            "_keep_with_parent",
            "_classify",
            "_write",
            "_build_map",
            "_differing",
            "_analyze",
            "_temp",
            "_dag_version_link",
            "drop_temps",
        ):
            _timed_method(merge._Merger, method, out)


def _command() -> None:
    out = os.environ.get("AIRSHIFT_BENCH_PHASES")
    if out:
        install(out)
    from airshift.cli import main as cli_main

    sys.argv = ["airshift", *sys.argv[1:]]
    cli_main()


def main() -> None:
    from airshift import program

    program.run(_command)  # as the command does: Arrow's pool first, no finalization


if __name__ == "__main__":
    main()
