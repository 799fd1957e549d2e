"""Checking converted DAGs with a real Airflow: imported by a DagBag, or executed by ``dags test``.

Why: a DAG that imports can still fail on its first run (a template loaded as a file, a
step that cannot succeed). The report therefore says, per DAG, how far it was checked:
``imported`` (a real Airflow 3 DagBag with the amazon provider loaded it without error)
or ``executed`` (``airflow dags test`` ran one DAG run, with each task's final state).
Execution runs the tasks for real, against whatever AWS endpoint and credentials the
environment holds: a sandbox account, or a moto server through ``AWS_ENDPOINT_URL``.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Literal

from airshift import airflow_env

DEFAULT_AIRFLOW = "3.3.2"
# pandas: SqlToS3Operator (CopyActivity from SQL to S3) reads the query into a DataFrame
PROVIDERS = [
    "apache-airflow-providers-amazon[pandas]",
    "apache-airflow-providers-postgres",
    "awscli",
]
Mode = Literal["none", "import", "run"]

_IMPORT_PROBE = """
import json, sys
try:
    from airflow.dag_processing.dagbag import DagBag
except ImportError:
    from airflow.models.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1], include_examples=False)
print(json.dumps({
    "dags": {d: bag.dags[d].fileloc for d in bag.dags},
    "errors": {str(k): str(v) for k, v in bag.import_errors.items()},
}))
"""


@dataclass
class Verification:
    """How far one DAG was checked, and what happened."""

    mode: Literal["imported", "executed"]
    airflow: str
    ok: bool
    detail: str = ""
    run_state: str | None = None
    tasks: dict[str, str] = field(default_factory=dict)
    logs: dict[str, str] = field(default_factory=dict, repr=False)  # task -> its last try's log

    @property
    def summary(self) -> str:
        if self.mode == "imported":
            return (
                f"imported by Airflow {self.airflow}"
                if self.ok
                else f"import failed: {self.detail}"
            )
        failed = sorted(t for t, s in self.tasks.items() if s not in ("success", "skipped"))
        tail = f" (not successful: {', '.join(failed)})" if failed else ""
        return f"executed by `airflow dags test` on Airflow {self.airflow}: {self.run_state}{tail}"

    def to_json(self) -> dict[str, object]:
        """Every field but the task logs (long; the JSON report leaves them out)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "logs"}


class AirflowCheck:
    """One scratch Airflow home (SQLite) in which converted DAGs are imported or run."""

    def __init__(
        self,
        home: Path,
        version: str = DEFAULT_AIRFLOW,
        extras: list[str] | None = None,
        env: Mapping[str, str] | None = None,
        log=print,
    ) -> None:
        self.env_vars = dict(env or {})
        self.home = home
        self.airflow = airflow_env.ensure(version, extras=extras or PROVIDERS, log=log)
        self._migrated = False

    def import_folder(self, folder: Path) -> tuple[dict[str, str], dict[str, str]]:
        """(dag_id -> file, file -> import error) as a real DagBag sees the folder."""
        proc = self.airflow.run(
            ["python", "-c", _IMPORT_PROBE, str(folder)],
            home=self.home,
            extra_env=self.env_vars,
            timeout=900,
        )
        payload = json.loads(proc.stdout.strip().splitlines()[-1])
        return payload["dags"], payload["errors"]

    def imported(self, folder: Path, dag_ids: list[str]) -> dict[str, Verification]:
        """An ``imported`` verification per DAG id (failed when its file did not load)."""
        dags, errors = self.import_folder(folder)
        out = {}
        for dag_id in dag_ids:
            if dag_id in dags:
                out[dag_id] = Verification("imported", self.airflow.version, True)
            else:
                error = next((e for f, e in errors.items() if Path(f).stem == dag_id), "")
                detail = error.strip().splitlines()[-1] if error.strip() else "DAG not found"
                out[dag_id] = Verification("imported", self.airflow.version, False, detail)
        return out

    def run(
        self,
        dag_file: Path,
        dag_id: str,
        logical_date: str,
        mark_success: str | None = None,
        conf: Mapping[str, object] | None = None,
    ) -> Verification:
        """``airflow dags test`` for one DAG run; task states read from its own database.

        The DAG file is run from a folder of its own: ``dags test`` parses its whole DAGs
        folder, and the output folder of an account-wide conversion holds every DAG. When
        the run fails, the detail is the log of each task that did not succeed (``dags
        test`` writes task logs to its output), not the tail of the command's output.
        """
        if not self._migrated:
            self.airflow.run(["db", "migrate"], home=self.home, extra_env=self.env_vars)
            self._migrated = True
        folder = self.home / "run-dags" / dag_id
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        shutil.copy(dag_file, folder / dag_file.name)
        args = ["dags", "test", dag_id, logical_date, "-f", str(folder / dag_file.name)]
        if mark_success:
            args += ["--mark-success-pattern", mark_success]
        if conf:
            args += ["-c", json.dumps(conf)]
        proc = self.airflow.run(
            args,
            home=self.home,
            extra_env=self.env_vars | {"AIRFLOW__CORE__DAGS_FOLDER": str(folder)},
            timeout=900,
            check=False,
        )
        state, tasks = self._last_run(dag_id)
        logs = task_logs(proc.stdout or "")
        ok = proc.returncode == 0 and state == "success"
        detail = "" if ok else failure_detail(tasks, logs, proc.stderr or proc.stdout or "")
        return Verification("executed", self.airflow.version, ok, detail, state, tasks, logs)

    def _last_run(self, dag_id: str) -> tuple[str | None, dict[str, str]]:
        with sqlite3.connect(self.home / "airflow.db") as db:
            row = db.execute(
                "SELECT run_id, state FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1",
                (dag_id,),
            ).fetchone()
            if row is None:
                return None, {}
            tasks = db.execute(
                "SELECT task_id, state FROM task_instance WHERE dag_id = ? AND run_id = ?",
                (dag_id, row[0]),
            ).fetchall()
        return row[1], {t: s or "none" for t, s in tasks}


# ``dags test`` (Airflow 3) brackets each try it runs with these two lines
_START = re.compile(r"\[DAG TEST\] starting task_id=(\S+) map_index=(-?\d+)")
_END = re.compile(r"\[DAG TEST\] end task task_id=(\S+) map_index=(-?\d+)")
_TAIL = 25  # log records kept per failed task in a report (traceback frames dropped)


def task_logs(output: str) -> dict[str, str]:
    """Each task's log from ``dags test`` output: the lines of its last try.

    A mapped task's tries are keyed ``task_id[map_index]``.
    """
    logs: dict[str, str] = {}
    current: str | None = None
    lines: list[str] = []
    for line in output.splitlines():
        if match := _START.search(line):
            current, lines = _task_key(match), []
        elif current is not None and (match := _END.search(line)) and _task_key(match) == current:
            logs[current] = "\n".join(lines)
            current = None
        elif current is not None:
            lines.append(line)
    if current is not None:  # the command died inside a task
        logs[current] = "\n".join(lines)
    return logs


def _task_key(match: re.Match[str]) -> str:
    task_id, index = match.group(1), int(match.group(2))
    return task_id if index < 0 else f"{task_id}[{index}]"


def failure_detail(tasks: Mapping[str, str], logs: Mapping[str, str], output: str) -> str:
    """Why a run failed: the end of the log of each task that failed.

    Tasks that only did not run because of an upstream failure are named, without a log.
    Without any task log (the DAG did not even start), the tail of the command's output.
    """
    failed = sorted(t for t, s in tasks.items() if s in ("failed", "up_for_retry"))
    parts = []
    for task_id in failed:
        log = [line for line in logs.get(task_id, "").splitlines() if line.strip()]
        if not log:
            parts.append(f"task {task_id} failed (no log in the output of dags test)")
            continue
        errors = exceptions(log)
        head = f"task {task_id} failed" + (f": {errors[-1]}" if errors else "")
        records = [line for line in log if not line.startswith((" ", "\t"))]  # no frames
        parts.append(f"{head}\nthe end of its log:\n" + "\n".join(records[-_TAIL:]))
    blocked = sorted(t for t, s in tasks.items() if s == "upstream_failed")
    if blocked:
        parts.append("not run because an upstream task failed: " + ", ".join(blocked))
    if not failed:
        parts.append("\n".join(output.strip().splitlines()[-20:]))
    return "\n\n".join(parts)


def exceptions(log: list[str]) -> list[str]:
    """The exception lines (``Type: message``) that end the tracebacks in a log."""
    found, inside = [], False
    for line in log:
        if line.startswith("Traceback (most recent call last):"):
            inside = True
        elif inside and not line.startswith((" ", "\t")):
            found.append(line.strip())
            inside = False
    return found
