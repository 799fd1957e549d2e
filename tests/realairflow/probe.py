"""Ask a real Airflow (2.x or 3.x), through its own ORM, what history it holds.

Run inside an Airflow virtualenv (``env.run(["python", probe.py], ...)``); prints JSON.
Why the ORM: it is how Airflow itself reads its database, so it is the ground truth for
"is the history there and correct" (the REST API test covers the web layer).
"""

import json
import sys

from airflow.models import Connection, DagRun, TaskInstance, Variable
from airflow.utils.session import create_session

try:  # Airflow 3.4: one read model over xcom_v1 (legacy rows) and xcom_v2
    from airflow.models.xcom import get_xcom_model

    XCom = get_xcom_model()
except ImportError:
    try:
        from airflow.models.xcom import XComModel as XCom  # Airflow 3.0-3.3
    except ImportError:
        from airflow.models.xcom import XCom
try:
    from airflow.models.taskinstancehistory import TaskInstanceHistory
except ImportError:
    TaskInstanceHistory = None
from airflow.models.dagrun import DagRunNote
from airflow.models.taskinstance import TaskInstanceNote

# Airflow 3.4 keeps every try as a task_instance row: the current one has working_set true,
# earlier ones NULL (the ORM shows only current rows unless asked for all attempts).
ATTEMPTS = hasattr(TaskInstance, "working_set")


def current_tis(s):
    if ATTEMPTS:
        return s.query(TaskInstance).all()
    return list(s.execute(TaskInstance.__table__.select()))


def earlier_tries(s):
    if ATTEMPTS:
        archived = s.query(TaskInstance).filter(TaskInstance.working_set.is_(None))
        return archived.execution_options(include_all_attempts=True).all()
    return s.query(TaskInstanceHistory).all() if TaskInstanceHistory else []


def xcom_value(v):
    if isinstance(v, bytes | memoryview):
        v = bytes(v)
        if v[:1] == b"\x80":
            return "<pickled>"
        return json.loads(v.decode())
    return v


with create_session() as s:
    date_col = "logical_date" if hasattr(DagRun, "logical_date") else "execution_date"
    out = {
        "runs": sorted(
            [
                r.dag_id,
                r.run_id,
                r.state,
                r.run_type.replace("dataset_triggered", "asset_triggered"),
                str(getattr(r, date_col)),
            ]
            for r in s.query(DagRun)
        ),
        # The stored try number: Airflow before 2.10 showed it plus one for finished tasks.
        "tis": sorted(
            [t.dag_id, t.task_id, t.run_id, t.map_index, t.state, t.try_number, str(t.start_date)]
            for t in current_tis(s)
        ),
        "tries": sorted(
            [h.dag_id, h.task_id, h.run_id, h.map_index, h.try_number, h.state]
            for h in earlier_tries(s)
        ),
        "xcoms": sorted(
            [
                x.dag_id,
                x.run_id,
                x.task_id,
                x.map_index,
                x.key,
                json.dumps(xcom_value(x.value), sort_keys=True),
            ]
            for x in s.query(
                XCom.dag_id, XCom.run_id, XCom.task_id, XCom.map_index, XCom.key, XCom.value
            )
        ),
        "run_notes": sorted(n.content for n in s.query(DagRunNote)),
        "ti_notes": sorted(n.content for n in s.query(TaskInstanceNote)),
        "variables": {v.key: Variable.get(v.key) for v in s.query(Variable)},
        "connections": {c.conn_id: [c.password, c.extra] for c in s.query(Connection)},
    }
json.dump(out, sys.stdout)
