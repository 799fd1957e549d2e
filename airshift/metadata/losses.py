"""What Airflow 3's own migration loses, and what airshift does about it.

Why: an in-place ``airflow db migrate`` from 2.x drops ``task_fail`` (the only record of
failed tries before 2.10), moves pickled XComs where 3.x cannot see them, and deletes
SLA misses' meaning. airshift reports each loss with counts before it happens, rebuilds
the failed tries as ``task_instance_history`` rows, and, only when asked, converts
pickled XComs to JSON (unpickling runs code from the pickle, so never by default).
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from airshift import airflow_env
from airshift.metadata.registry import TI_KEY
from airshift.metadata.source import AirflowDB


def describe_losses(issues: dict[str, int], converted: int = 0) -> dict[str, dict]:
    """The migration issues of a 2.x scratch database, explained for the report."""
    what = {
        "pickled_xcoms": (
            "moved to _xcom_archive by Airflow 3's migration, invisible in 3.x",
            f"{converted} converted to JSON (--convert-pickled)"
            if converted
            else "not imported; --convert-pickled converts them",
        ),
        "pickled_conf": (
            "unpickled to JSON by Airflow's migration; an empty dict becomes NULL",
            "imported as migrated",
        ),
        "task_fail": (
            "table dropped by Airflow 3's migration",
            "failed tries kept as task_instance_history rows",
        ),
        "sla_miss": ("SLAs were removed in Airflow 3", "not imported (still in the archive)"),
        "dag_pickle": ("removed in Airflow 3", "not imported"),
    }
    return {
        name: {"rows": n, "airflow_migration": what[name][0], "airshift": what[name][1]}
        for name, n in issues.items()
        if n and name in what
    }


def task_fail_to_history(conn: sa.Connection, sdb: AirflowDB) -> int:
    """Add a task_instance_history row for every failed try that only task_fail records.

    Each earlier failure of a TI (not its current try, not a try history already holds)
    becomes try 1, 2, ... in start order, with the TI's other columns. Returns the count.
    """
    md = sdb.metadata
    if not {"task_fail", "task_instance_history"} <= set(md.tables):
        return 0
    tf, ti, tih = (
        md.tables["task_fail"],
        md.tables["task_instance"],
        md.tables["task_instance_history"],
    )
    same_ti = [tf.c[c] == ti.c[c] for c in TI_KEY]
    earlier = (
        sa.select(
            *[tf.c[c] for c in TI_KEY], tf.c.id, tf.c.start_date, tf.c.end_date, tf.c.duration
        )
        .join(ti, sa.and_(*same_ti))
        .where(tf.c.start_date.is_distinct_from(ti.c.start_date))
        .where(
            ~sa.exists().where(
                *[tih.c[c] == tf.c[c] for c in TI_KEY], tih.c.start_date == tf.c.start_date
            )
        )
        .subquery("earlier")
    )
    numbered = sa.select(
        earlier,
        sa.func.row_number()
        .over(
            partition_by=[earlier.c[c] for c in TI_KEY],
            # the same numbers every time (``dags test`` leaves start dates empty)
            order_by=(earlier.c.start_date, earlier.c.end_date, earlier.c.id),
        )
        .label("try_no"),
    ).subquery("numbered")
    override = {
        "try_number": numbered.c.try_no,
        "start_date": numbered.c.start_date,
        "end_date": numbered.c.end_date,
        "duration": numbered.c.duration,
        "state": sa.literal("failed"),
    }
    cols = [
        c.name for c in tih.columns if c.name != "id" and (c.name in override or c.name in ti.c)
    ]
    sel = (
        sa.select(*[override[c] if c in override else ti.c[c] for c in cols])
        .select_from(numbered.join(ti, sa.and_(*[numbered.c[c] == ti.c[c] for c in TI_KEY])))
        .where(
            ~sa.exists().where(
                *[tih.c[c] == numbered.c[c] for c in TI_KEY], tih.c.try_number == numbered.c.try_no
            )
        )
    )
    # Counted, not taken from rowcount: psycopg reports -1 for this INSERT ... SELECT.
    count = sa.select(sa.func.count()).select_from(tih)
    before = conn.execute(count).scalar_one()
    conn.execute(sa.insert(tih).from_select(cols, sel))
    return conn.execute(count).scalar_one() - before


_CONVERT_SCRIPT = r"""
import json, pickle, sys
from sqlalchemy import text
from airflow.models.xcom import XCom
from airflow.utils.session import create_session
done = failed = 0
with create_session() as session:
    rows = session.execute(text("SELECT dag_run_id, task_id, map_index, key, value FROM xcom")).all()
    for dag_run_id, task_id, map_index, key, value in rows:
        if value is None or bytes(value[:1]) != b"\x80":
            continue
        try:
            new = XCom.serialize_value(pickle.loads(bytes(value)))
        except Exception:
            failed += 1
            continue
        session.execute(
            text("UPDATE xcom SET value = :v WHERE dag_run_id = :d AND task_id = :t AND map_index = :m AND " + session.bind.dialect.identifier_preparer.quote_identifier("key") + " = :k"),
            {"v": new, "d": dag_run_id, "t": task_id, "m": map_index, "k": key},
        )
        done += 1
print(json.dumps({"converted": done, "failed": failed}))
"""


def convert_pickled_xcoms(sdb: AirflowDB, url: str, home: Path, release: str) -> int:
    """Unpickle XComs in the scratch database and store them as Airflow's JSON (opt-in)."""
    import json

    env = airflow_env.ensure(release)
    script = home / "convert_pickled_xcoms.py"
    script.write_text(_CONVERT_SCRIPT)
    out = env.run(
        ["python", str(script)],
        home=home,
        db_url=url,
        extra_env={"AIRFLOW__CORE__ENABLE_XCOM_PICKLING": "False"},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])["converted"]
