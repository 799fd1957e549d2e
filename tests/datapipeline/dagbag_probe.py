"""Runs inside a real Airflow 3 virtualenv: load DAG files, dump what Airflow sees as JSON.

Usage: python dagbag_probe.py DAGS_DIR REQUEST_JSON OUTPUT_JSON

REQUEST_JSON maps dag_id -> {"logical_date": ISO, "params": {...}} and asks for the
templates of that DAG's tasks to be rendered for the scheduled run at (or after) that date,
with the DAG's own timetable deciding the run's data interval. Everything here is real
Airflow: DagBag parsing, timetables, Jinja environment and operators' template fields.
The only stand-ins are run-time services absent outside a worker (XCom, Variables).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import sys
import types
from pathlib import Path

import pendulum

try:
    from airflow.dag_processing.dagbag import DagBag
except ImportError:  # Airflow 3.0
    from airflow.models.dagbag import DagBag
from airflow.sdk.execution_time import macros
from airflow.timetables.base import TimeRestriction


class XComValue(str):
    """What ``ti.xcom_pull`` would return: a marker string that also supports ``[i]``."""

    def __getitem__(self, index):  # type: ignore[override]
        return f"{self}[{index}]"


def _jsonable(value):
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return repr(value)


_ATTRIBUTES = ("table_as_file_name", "unload_options", "df_kwargs", "file_format")


def _callbacks(value):
    out = []
    for cb in value if isinstance(value, list) else [value] if value else []:
        fields = {f: getattr(cb, f, None) for f in getattr(cb, "template_fields", ())}
        out.append({"class": type(cb).__name__, "fields": _jsonable(fields)})
    return out


def _run_context(dag, request):
    logical = pendulum.parse(request["logical_date"])
    next_info = getattr(dag.timetable, "next_dagrun_info", None)
    info = None
    if next_info is not None:
        restriction = TimeRestriction(earliest=logical, latest=None, catchup=True)
        info = next_info(last_automated_data_interval=None, restriction=restriction)
    if type(dag.timetable).__name__ == "OnceTimetable":  # its one run is at start_date
        start = end = logical_date = run_after = pendulum.instance(dag.start_date)
    elif info is None:  # manual-only DAG: a manual run at that moment
        start = end = logical_date = run_after = logical
    else:
        start, end = info.data_interval.start, info.data_interval.end
        logical_date, run_after = info.logical_date, info.run_after
    params = copy.deepcopy(dag.params)
    for key, value in request.get("params", {}).items():
        params[key] = value  # validated against the Param's schema, as at trigger time
    context = {
        "dag": dag,
        "logical_date": logical_date,
        "data_interval_start": start,
        "data_interval_end": end,
        "ds": logical_date.strftime("%Y-%m-%d"),
        "ts": logical_date.isoformat(),
        "run_id": "scheduled__probe",
        "params": params,
        "macros": macros,
        "dag_run": types.SimpleNamespace(logical_date=logical_date, run_after=run_after),
        "ti": types.SimpleNamespace(
            xcom_pull=lambda task_ids=None, **_: XComValue(f"xcom:{task_ids}"),
            start_date=run_after,
            end_date=run_after,
            state="failed",
        ),
        "var": types.SimpleNamespace(
            value=types.SimpleNamespace(get=lambda key, default=None: f"var:{key}")
        ),
        "conn": None,
        "exception": "EXCEPTION",
    }
    return context, {
        "logical_date": logical_date.isoformat(),
        "start": start.isoformat(),
        "end": end.isoformat(),
    }


def main() -> None:
    dags_dir, request_path, out_path = sys.argv[1:4]
    requests = json.loads(Path(request_path).read_text())
    bag = DagBag(dag_folder=dags_dir)
    result = {"import_errors": {str(k): str(v) for k, v in bag.import_errors.items()}, "dags": {}}
    for dag_id, dag in bag.dags.items():
        timetable = dag.timetable
        entry = {
            "fileloc": Path(dag.fileloc).name,
            "timetable": type(timetable).__name__,
            "expression": getattr(timetable, "_expression", None),
            "delta": _jsonable(getattr(timetable, "_delta", None)),
            "summary": getattr(timetable, "summary", None),
            "start_date": _jsonable(dag.start_date),
            "end_date": _jsonable(dag.end_date),
            "catchup": dag.catchup,
            "max_active_runs": dag.max_active_runs,
            "dagrun_timeout": _jsonable(dag.dagrun_timeout),
            "params": _jsonable(dag.params.dump()),
            "deadlines": [
                {
                    "reference": type(alert.reference).__name__,
                    "interval": _jsonable(alert.interval),
                    "callback": alert.callback.path,
                    "kwargs": _jsonable(alert.callback.kwargs),
                }
                for alert in (dag.deadline or [])
            ],
            "tasks": {},
        }
        request = requests.get(dag_id)
        context = None
        if request is not None:
            context, entry["run"] = _run_context(dag, request)
        for task in dag.tasks:
            info = {
                "operator": f"{type(task).__module__}.{type(task).__name__}",
                "display_name": task.task_display_name,
                "upstream": sorted(task.upstream_task_ids),
                "downstream": sorted(task.downstream_task_ids),
                "retries": task.retries,
                "retry_delay": _jsonable(task.retry_delay),
                "execution_timeout": _jsonable(task.execution_timeout),
                "is_teardown": task.is_teardown,
                "trigger_rule": str(task.trigger_rule),
                "mode": getattr(task, "mode", None),
                "timeout": _jsonable(getattr(task, "timeout", None)),
                "queue": task.queue,
                "max_active_tis_per_dag": task.max_active_tis_per_dag,
                "on_failure_callback": _callbacks(task.on_failure_callback),
                "on_success_callback": _callbacks(task.on_success_callback),
                "fields": {f: _jsonable(getattr(task, f, None)) for f in task.template_fields},
                "attributes": {  # untemplated arguments the tests check
                    name: _jsonable(getattr(task, name))
                    for name in _ATTRIBUTES
                    if hasattr(task, name)
                },
            }
            if context is not None:
                task.render_template_fields(dict(context, task=task), dag.get_template_env())
                info["rendered"] = {
                    f: _jsonable(getattr(task, f, None)) for f in task.template_fields
                }
                env = dag.get_template_env()
                info["rendered_callbacks"] = [
                    {
                        f: env.from_string(getattr(cb, f) or "").render(**dict(context, task=task))
                        for f in cb.template_fields
                        if isinstance(getattr(cb, f, None), str)
                    }
                    for cb in (task.on_failure_callback or [])
                ]
            entry["tasks"][task.task_id] = info
        result["dags"][dag_id] = entry
    Path(out_path).write_text(json.dumps(result, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
