"""The cutover's delta against a full migrate, side by side in one run (issue #16).

Why: a cutover's downtime is its delta phase (what the source changed after the bulk
copy), so the delta must cost a small part of a full migrate, not a second one. On one
scaled 2.10.5 source (bench/generate.py) and a real, empty Airflow 3.3.2 target this runs

1. ``airshift cutover SRC TARGET --stop-after bulk``: the full migrate (the bulk phase is
   ``migrate --no-pause``), timed;
2. the source moves on: ``--new`` of its runs are cloned as new, recent runs (with their
   task instances, XComs, notes, audit rows, ...), and ``--changed`` of the migrated runs
   change state (the run and its task instances, with new end and update dates);
3. ``cutover --stop-after drain`` (pause and drain, not timed), then ``cutover
   --stop-after delta``, timed: the delta phase, and its steps (bench/phased.py); with
   ``--drain-task SECONDS``, one of the source's tasks is still running when the source is
   paused and ends that many seconds later, and pause, drain and delta run in one process,
   as in a real cutover (the drain then waits for it);
4. ``airshift verify SRC TARGET``: the target matches the changed source.

With ``--live`` the cutover is one process from the bulk phase to the delta, as a user
runs it: the source moves on (step 2) while the bulk phase copies, once its export is
written, and the pause follows the bulk at once, with nothing to drain. Only the phases'
own seconds compare then (the process holds both).

The ratio delta / full migrate is printed, and written with ``--out`` as JSON.

    python -m bench.cutover --size medium --live --out cutover.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg

from bench import generate
from bench.run import AIRFLOW_2, AIRFLOW_3, WORK, _drop, machine, run_measured
from tests.realairflow import build

# Mapping of the new runs: every ``step``-th run is cloned as one created just now, one
# millisecond apart: its earliest time (queued, else started, else its logical date) is moved
# to now, and the rest of its times and its tries' keep their distance to it. A run the
# scheduler makes after the bulk phase began cannot be dated before it; cloned a second apart
# the first 1,000 runs reached 16 minutes back, so on a fast machine some new runs were older
# than the bulk phase (less its clock margin) and the delta rightly left them out.
NEW_RUNS = """
CREATE TEMP TABLE bench_map AS
SELECT id AS old_id, (SELECT max(id) FROM dag_run) + row_number() OVER (ORDER BY id) AS new_id,
       dag_id, run_id AS old_run_id, run_id || '__delta' AS new_run_id,
       (now() - row_number() OVER (ORDER BY id) * interval '1 millisecond')
         - coalesce(queued_at, start_date, execution_date) AS delta
FROM dag_run WHERE id %% %(step)s = 0
"""


def mutate(src: str, new: float, changed: float, log) -> dict[str, int]:
    """Make the source move on after the bulk copy, as its scheduler and users would:
    ``new`` x its runs as new recent runs, and a state change on ``changed`` x its runs."""
    out: dict[str, int] = {}
    with psycopg.connect(src) as conn:
        cur = conn.cursor()
        cur.execute(NEW_RUNS, {"step": round(1 / new)})
        join = "JOIN bench_map m ON m.dag_id = t.dag_id AND m.old_run_id = t.run_id"
        cur.execute(
            generate._clone_sql(
                cur,
                "dag_run",
                "dag_run t JOIN bench_map m ON m.old_id = t.id",
                {"id": "m.new_id", "run_id": "m.new_run_id"},
            )
        )
        out["new dag_run"] = cur.rowcount
        for table in generate.RUN_CHILDREN:
            over = {"run_id": "m.new_run_id"} | (
                {"dag_run_id": "m.new_id"} if table == "xcom" else {}
            )
            cur.execute(generate._clone_sql(cur, table, f"{table} t {join}", over))
            out[f"new {table}"] = cur.rowcount
        cur.execute(generate._clone_sql(cur, "log", f"log t {join}", {"run_id": "m.new_run_id"}))
        out["new log"] = cur.rowcount
        cur.execute(
            "SELECT setval(pg_get_serial_sequence('dag_run', 'id'), (SELECT max(id) FROM dag_run))"
        )
        # State changes: the run and its tries end again, now, the other way.
        flip = "CASE WHEN state = 'success' THEN 'failed' ELSE 'success' END"
        cur.execute(
            f"UPDATE dag_run SET state = {flip}, end_date = now(), updated_at = now() "
            "WHERE id %% %(step)s = %(half)s AND run_id NOT LIKE '%%__delta' "
            "RETURNING dag_id, run_id",
            {"step": round(1 / changed), "half": round(1 / changed) // 2},
        )
        changed_runs = cur.fetchall()
        out["changed dag_run"] = len(changed_runs)
        cur.execute("CREATE TEMP TABLE bench_changed (dag_id text, run_id text)")
        with cur.copy("COPY bench_changed FROM STDIN") as copy:
            for row in changed_runs:
                copy.write_row(row)
        cur.execute(
            f"UPDATE task_instance t SET state = {flip}, end_date = now(), updated_at = now() "
            "FROM bench_changed c WHERE c.dag_id = t.dag_id AND c.run_id = t.run_id"
        )
        out["changed task_instance"] = cur.rowcount
        conn.commit()
    log(f"source moved on: {out}")
    return out


def running_task(src: str, seconds: float) -> threading.Thread:
    """Mark the source's latest task instance running; the thread returned, once started,
    ends it (success, now) ``seconds`` later, as a task finishing during the drain."""
    key = "dag_id, task_id, run_id, map_index"
    with psycopg.connect(src) as conn:
        conn.execute(
            f"UPDATE task_instance SET state = 'running', end_date = NULL WHERE ({key}) = "
            f"(SELECT {key} FROM task_instance ORDER BY start_date DESC NULLS LAST LIMIT 1)"
        )

    def finish() -> None:
        time.sleep(seconds)
        with psycopg.connect(src) as conn:
            conn.execute(
                "UPDATE task_instance SET state = 'success', end_date = now(), "
                "updated_at = now() WHERE state = 'running'"
            )

    return threading.Thread(target=finish)


def _after_export(phases: Path, src: str, new: float, changed: float, log) -> dict[str, int]:
    """``mutate`` once the bulk phase's export is written (its step recorded in
    ``phases``): runs and tries the source makes while the bulk phase copies."""
    while not (phases.exists() and '"phase": "export"' in phases.read_text()):
        time.sleep(0.2)
    return mutate(src, new, changed, log)


def _steps_since(phases: Path, recorded: dict, phase: str) -> dict[str, float]:
    """The steps (bench/phased.py) timed from the start of ``phase`` on, in seconds."""
    started = next(p["started"] for p in recorded["phases"] if p["phase"] == phase)
    t0 = dt.datetime.fromisoformat(started).timestamp()
    steps: dict[str, float] = {}
    for line in phases.read_text().splitlines():
        step = json.loads(line)
        if step["start"] >= t0 and not step["phase"].startswith("merge."):
            steps[step["phase"]] = steps.get(step["phase"], 0) + step["end"] - step["start"]
    return {k: round(v, 3) for k, v in steps.items()}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--size", default="medium", help=f"one of {', '.join(generate.SIZES)} or a run count"
    )
    p.add_argument("--new", type=float, default=0.01, help="new runs, as a share of the runs")
    p.add_argument("--changed", type=float, default=0.01, help="runs whose state changes")
    p.add_argument("--out", type=Path, help="write the results as JSON here")
    p.add_argument(
        "--drain-task",
        type=float,
        default=0,
        help="a task still running at the pause, ending this many seconds later (0: none)",
    )
    p.add_argument(
        "--live",
        action="store_true",
        help="one process from the bulk phase to the delta; the source moves on while the "
        "bulk phase copies (once its export is written), as a live source does",
    )
    a = p.parse_args(argv)
    if a.live and a.drain_task:
        p.error("--live has nothing to drain: the source's changes are made during the bulk")

    def log(msg: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {msg}", file=sys.stderr, flush=True)

    info = machine()
    log(f"machine: {info}")
    runs = generate.SIZES.get(a.size) or int(a.size)
    fx2 = build.get_fixture(AIRFLOW_2, "postgresql")
    fx3 = build.get_fixture(AIRFLOW_3, "postgresql", "target")
    src_name, tgt_name = f"{WORK}_cut_src", f"{WORK}_cut_tgt"
    src = build.clone(fx2, src_name).replace("postgresql+psycopg://", "postgresql://")
    try:
        generate.scale(src, runs, log=lambda m: log(f"  generate {m}"))
        tgt = build.clone(fx3, tgt_name).replace("postgresql+psycopg://", "postgresql://")
        counts = generate.counts(src)
        rows = sum(counts.values())
        log(f"source {src_name}: {rows} history rows")
        with tempfile.TemporaryDirectory(prefix="airshift-bench-cutover-") as tmp:
            work = Path(tmp)
            state, phases = work / "cutover.json", work / "phases.jsonl"
            keys = ["--fernet-key", fx2.fernet_key, "--target-fernet-key", fx3.fernet_key]
            base = [sys.executable, "-m", "bench.phased", "cutover", src, tgt, *keys]
            base += ["--state-file", str(state), "--drain-timeout", "5", "--force"]
            results = {}

            def measure(name: str, *extra: str) -> dict:
                log(f"{name} ...")
                load = os.getloadavg()[0]
                s, own, _, steps, _, _ = run_measured([*base, *extra], phases_file=phases)
                top = {k: round(v, 2) for k, v in steps.items() if not k.startswith("merge.")}
                log(f"{name}: {s:.1f}s, {own:.0f} MB {top}")
                results[name] = {"seconds": s, "peak_rss_mb": own, "steps": steps, "load": load}
                return results[name]

            def write(summary: dict) -> None:
                if a.out:
                    a.out.write_text(json.dumps(summary, indent=1, default=str))

            moved: dict[str, int] = {}
            if a.live:  # the source moves on once the bulk's export is written
                mover = threading.Thread(
                    target=lambda: moved.update(_after_export(phases, src, a.new, a.changed, log))
                )
                mover.start()
                bulk = delta = measure("bulk, pause, drain and delta", "--stop-after", "delta")
                mover.join()
            else:
                bulk = measure("full migrate (cutover bulk phase)", "--stop-after", "bulk")
                moved = mutate(src, a.new, a.changed, log)
                if a.drain_task:  # one process from the pause on; its time includes the drain
                    finishing = running_task(src, a.drain_task)
                    finishing.start()
                    delta = measure("pause, drain and delta phase", "--stop-after", "delta")
                    finishing.join()
                else:
                    measure("pause and drain", "--stop-after", "drain")
                    delta = measure("delta phase", "--stop-after", "delta")
            # One process from the bulk on (--live): only the phases' own seconds compare.
            ratio = None if a.live else delta["seconds"] / bulk["seconds"]
            if ratio is not None:
                log(
                    f"delta / full migrate = {delta['seconds']:.1f} / {bulk['seconds']:.1f} = "
                    f"{ratio:.3f} (processes, start to exit)"
                )
            recorded = json.loads(state.read_text())
            # The phases' own seconds (the state file): a cutover runs its phases in one
            # process, so the delta's downtime has no process start or reflection in it.
            own = {p["phase"]: p["seconds"] for p in recorded["phases"]}
            phase_ratio = own["delta"] / own["bulk"]
            log(f"delta / bulk phase = {own['delta']:.1f} / {own['bulk']:.1f} = {phase_ratio:.3f}")
            summary = {
                "machine": info,
                "size": a.size,
                "counts": counts,
                "moved": moved,
                "airflow": [AIRFLOW_2, AIRFLOW_3],
                "results": results,
                "ratio": ratio,
                "phase_ratio": phase_ratio,
                "phase_seconds": own,
                "delta_merge": recorded["results"]["delta"]["merge"],
                "drain_task_seconds": a.drain_task,
                "live": a.live,
                "delta_steps": _steps_since(phases, recorded, "delta"),
                "command": " ".join(["python -m bench.cutover", *(argv or sys.argv[1:])]),
            }
            write(summary)  # before the verify, which takes as long as a full migrate
            measure("verify", "--stop-after", "verify")
            recorded = json.loads(state.read_text())
            summary |= {
                "phases": recorded["phases"],
                "verify_ok": recorded["results"]["verify"]["ok"],
            }
            summary["machine"]["loadavg_end"] = os.getloadavg()
            write(summary)
            shown = ("ratio", "phase_ratio", "verify_ok", "moved")
            print(json.dumps({k: summary[k] for k in shown}, indent=1))
            shutil.rmtree(work, ignore_errors=True)
    finally:
        for name in (src_name, tgt_name):
            _drop(name)


if __name__ == "__main__":
    main()
