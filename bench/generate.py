"""Scale a real Airflow 2.x PostgreSQL metadata database to a chosen number of DAG runs.

Why this way: the benchmark must measure airshift on data that real Airflow wrote, not on
an imitation of its schema. The real-Airflow harness (tests/realairflow/build.py) makes a
small database with genuine history; this module clones its runs, and with them every
row that belongs to a run (task instances, history, failures, XComs, rendered fields,
reschedules, notes, audit log, dataset events) plus the job rows, with new run ids,
new ids and shifted dates, entirely in SQL (``INSERT ... SELECT`` over a mapping table),
so that medium (100k runs) takes seconds to a couple of minutes rather than hours, and
the result is deterministic: the same base and run count give the same rows.

Every constraint stays valid: run ids get a ``__bench{n}`` suffix, logical dates are
placed before the oldest base run of the same DAG at distinct one-minute steps (so
``(dag_id, execution_date)`` stays unique), integer surrogate keys are taken above the
current maximum and the sequences are moved past them.
"""

from __future__ import annotations

import argparse
import sys
import time

import psycopg

# Named sizes from issue #6: runs per size (task instances follow the base's ratio, ~4.6/run).
# xlarge: 2.5x large (issue #17: every step linear in rows, memory flat, disk reported)
SIZES = {"tiny": 200, "small": 10_000, "medium": 100_000, "large": 400_000, "xlarge": 1_000_000}

# Tables whose rows belong to a run through (dag_id, run_id): cloned once per cloned run.
RUN_CHILDREN = [
    "task_instance",
    "task_instance_history",
    "task_fail",
    "xcom",
    "rendered_task_instance_fields",
    "task_reschedule",
    "task_instance_note",
]
# Time columns shifted together with the run's logical date (any table, when present).
TIME_COLUMNS = {
    "queued_at",
    "execution_date",
    "start_date",
    "end_date",
    "data_interval_start",
    "data_interval_end",
    "last_scheduling_decision",
    "updated_at",
    "queued_dttm",
    "timestamp",
    "dttm",
    "created_at",
    "reschedule_date",
    "latest_heartbeat",
    "trigger_timeout",
}


def _columns(cur: psycopg.Cursor, table: str) -> list[tuple[str, str | None]]:
    cur.execute(
        "SELECT column_name, column_default FROM information_schema.columns "
        "WHERE table_schema = 'public' AND table_name = %s ORDER BY ordinal_position",
        (table,),
    )
    return [(r[0], r[1]) for r in cur.fetchall()]


def _exists(cur: psycopg.Cursor, table: str) -> bool:
    cur.execute("SELECT to_regclass(%s) IS NOT NULL", (f"public.{table}",))
    return bool(cur.fetchone()[0])


def _clone_sql(
    cur: psycopg.Cursor, table: str, source: str, overrides: dict[str, str], alias: str = "t"
) -> str:
    """``INSERT INTO table (...) SELECT ... FROM source`` with per-column expressions.

    Serial ids (``nextval`` defaults) are left out so the table's own sequence numbers the
    clones; time columns are shifted by ``m.delta``; ``overrides`` wins over both.
    """
    names, exprs = [], []
    for name, default in _columns(cur, table):
        if name in overrides:
            expr = overrides[name]
        elif default and default.startswith("nextval("):
            continue
        elif name in TIME_COLUMNS:
            expr = f'{alias}."{name}" + m.delta'
        else:
            expr = f'{alias}."{name}"'
        names.append(f'"{name}"')
        exprs.append(expr)
    return f"INSERT INTO {table} ({', '.join(names)}) SELECT {', '.join(exprs)} FROM {source}"


def scale(url: str, runs: int, log=print) -> dict[str, int]:
    """Grow the database at ``url`` (a real Airflow 2.x PostgreSQL database) to ``runs``
    DAG runs in total; returns the row counts of the history tables afterwards."""
    t0 = time.monotonic()
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        cur = conn.cursor()
        cur.execute("SELECT count(*), coalesce(max(id), 0) FROM dag_run")
        base, max_id = cur.fetchone()
        extra = runs - base
        if extra <= 0:
            log(f"already {base} runs; nothing to do")
            return counts(url)
        copies = -(-extra // base)
        # One row per cloned run: old keys, new keys, and how far its times move.
        cur.execute(
            """
            CREATE TEMP TABLE bench_map AS
            WITH base AS (
                SELECT id, dag_id, run_id, execution_date,
                       row_number() OVER (PARTITION BY dag_id ORDER BY execution_date) AS r,
                       count(*) OVER (PARTITION BY dag_id) AS m,
                       min(execution_date) OVER (PARTITION BY dag_id) AS first_date
                FROM dag_run
            ), cloned AS (
                SELECT b.*, g.n, row_number() OVER (ORDER BY g.n, b.id) AS k
                FROM base b CROSS JOIN generate_series(1, %(copies)s) AS g(n)
            )
            SELECT id AS old_id, %(max_id)s + k AS new_id, dag_id, run_id AS old_run_id,
                   run_id || '__bench' || n AS new_run_id, n,
                   (first_date - ((n * m + r) * interval '1 minute')) - execution_date AS delta
            FROM cloned WHERE k <= %(extra)s
            """,
            {"copies": copies, "max_id": max_id, "extra": extra},
        )
        cur.execute("CREATE INDEX ON bench_map (dag_id, old_run_id)")
        cur.execute("CREATE INDEX ON bench_map (old_id)")
        cur.execute("ANALYZE bench_map")
        join = "JOIN bench_map m ON m.dag_id = t.dag_id AND m.old_run_id = t.run_id"

        cur.execute(
            _clone_sql(
                cur,
                "dag_run",
                "dag_run t JOIN bench_map m ON m.old_id = t.id",
                {"id": "m.new_id", "run_id": "m.new_run_id"},
            )
        )
        log(f"dag_run +{cur.rowcount}")
        for table in RUN_CHILDREN:
            if not _exists(cur, table):
                continue
            over = {"run_id": "m.new_run_id"}
            if table == "xcom":
                over["dag_run_id"] = "m.new_id"
            cur.execute(_clone_sql(cur, table, f"{table} t {join}", over))
            log(f"{table} +{cur.rowcount}")
        if _exists(cur, "dag_run_note"):
            cur.execute(
                _clone_sql(
                    cur,
                    "dag_run_note",
                    "dag_run_note t JOIN bench_map m ON m.old_id = t.dag_run_id",
                    {"dag_run_id": "m.new_id"},
                )
            )
            log(f"dag_run_note +{cur.rowcount}")
        _clone_dataset_events(cur, log)
        # Audit log: run-bound rows follow their run; the others are repeated per copy.
        cur.execute(_clone_sql(cur, "log", f"log t {join}", {"run_id": "m.new_run_id"}))
        n_log = cur.rowcount
        per_copy = "CROSS JOIN (SELECT n, n * interval '-1 day' AS delta FROM generate_series(1, %s) AS g(n)) m"
        cur.execute(_clone_sql(cur, "log", f"log t {per_copy} WHERE t.run_id IS NULL", {}) % copies)
        log(f"log +{n_log + cur.rowcount}")
        cur.execute(_clone_sql(cur, "job", f"job t {per_copy}", {}) % copies)
        log(f"job +{cur.rowcount}")
        for table in ("dag_run", "dataset_event"):
            cur.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
        conn.commit()
    with psycopg.connect(
        url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True
    ) as c:
        c.execute("VACUUM ANALYZE")
    log(f"scaled to {runs} runs in {time.monotonic() - t0:.1f}s")
    return counts(url)


def _clone_dataset_events(cur: psycopg.Cursor, log) -> None:
    """Dataset events produced by a cloned run, and the links to runs they triggered."""
    if not _exists(cur, "dataset_event") or not _exists(cur, "dagrun_dataset_event"):
        return
    cur.execute(
        """
        CREATE TEMP TABLE bench_event_map AS
        SELECT e.id AS old_id, m.n,
               (SELECT coalesce(max(id), 0) FROM dataset_event)
                 + row_number() OVER (ORDER BY m.n, e.id) AS new_id
        FROM dataset_event e
        JOIN (SELECT DISTINCT n FROM bench_map) m ON true
        """
    )
    # An event is cloned with copy n when the run that produced it was cloned with copy n.
    cur.execute(
        """
        DELETE FROM bench_event_map em USING dataset_event e
        WHERE e.id = em.old_id AND NOT EXISTS (
            SELECT 1 FROM bench_map m WHERE m.n = em.n
            AND m.dag_id = e.source_dag_id AND m.old_run_id = e.source_run_id)
        """
    )
    cur.execute(
        _clone_sql(
            cur,
            "dataset_event",
            "dataset_event t JOIN bench_event_map em ON em.old_id = t.id "
            "JOIN bench_map m ON m.n = em.n AND m.dag_id = t.source_dag_id "
            "AND m.old_run_id = t.source_run_id",
            {"id": "em.new_id", "source_run_id": "m.new_run_id"},
        )
    )
    log(f"dataset_event +{cur.rowcount}")
    cur.execute(
        """
        INSERT INTO dagrun_dataset_event (dag_run_id, event_id)
        SELECT m.new_id, em.new_id FROM dagrun_dataset_event l
        JOIN bench_map m ON m.old_id = l.dag_run_id
        JOIN bench_event_map em ON em.old_id = l.event_id AND em.n = m.n
        """
    )
    log(f"dagrun_dataset_event +{cur.rowcount}")


HISTORY_TABLES = [
    "dag_run",
    *RUN_CHILDREN,
    "dag_run_note",
    "log",
    "job",
    "dataset_event",
    "dagrun_dataset_event",
]


def counts(url: str) -> dict[str, int]:
    """Row counts of the history tables present in the database at ``url``."""
    out: dict[str, int] = {}
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        cur = conn.cursor()
        for table in HISTORY_TABLES:
            if _exists(cur, table):
                cur.execute(f"SELECT count(*) FROM {table}")
                out[table] = cur.fetchone()[0]
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("url", help="PostgreSQL URL of a real Airflow 2.x database (a copy!)")
    p.add_argument("--runs", default="small", help=f"a run count or one of {', '.join(SIZES)}")
    a = p.parse_args(argv)
    runs = SIZES.get(a.runs) or int(a.runs)
    print(scale(a.url, runs, log=lambda m: print(m, file=sys.stderr)))


if __name__ == "__main__":
    main()
