"""The import check: load the DAG folder and plugins with the real DagBag of the target.

Why: only the target Airflow itself knows whether a file imports. This is the answer a Docker
local runner gives, without Docker: a cached virtualenv of the target Airflow plus the
project's requirements (``airflow_env.ensure``), one isolated subprocess for the whole folder,
every import error and deprecation warning reported against its file and line.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from airshift import airflow_env
from airshift.code.findings import Finding, Severity
from airshift.code.project import Project
from airshift.code.target import Target
from airshift.code.target_facts import run_probe
from airshift.errors import AirshiftError

_WARNING = re.compile(r"^(?P<path>.+?):(?P<line>\d+): (?P<message>.*)$", re.DOTALL)


def target_env(
    target: Target, requirements: Sequence[str], log: Callable[[str], None]
) -> tuple[airflow_env.AirflowEnv, list[str]]:
    """The target venv with the project's requirements, or the plain one plus a note why not."""
    if requirements:
        try:
            return airflow_env.ensure(target.version, extras=list(requirements), log=log), []
        except AirshiftError as exc:
            note = (
                f"The requirements do not install with Airflow {target.version} "
                f"({exc.message.splitlines()[0]}); imported with Airflow alone."
            )
            return airflow_env.ensure(target.version, log=log), [note]
    return airflow_env.ensure(target.version, log=log), []


def import_check(project: Project, env: airflow_env.AirflowEnv) -> list[Finding]:
    """Import errors and deprecation warnings of every DAG and plugin file on the target."""
    if project.dags is None:
        return []
    extra = {"AIRFLOW__CORE__DAGS_FOLDER": str(project.dags)}
    if project.plugins:
        extra["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(project.plugins)
    args = [str(project.plugins or "-"), str(project.dags)]
    return _findings(project, _dagbag(env, args, extra))


@dataclass(frozen=True)
class FolderImport:
    """What one DagBag made of one folder: the files it parsed and the errors per file."""

    files: frozenset[Path]
    errors: dict[Path, str]

    @property
    def clean(self) -> frozenset[Path]:
        return self.files - set(self.errors)


def import_folders(
    env: airflow_env.AirflowEnv,
    dag_folders: Sequence[Path],
    extra_env: Mapping[str, str] | None = None,
) -> dict[Path, FolderImport]:
    """Each folder loaded by ``env``'s DagBag (one process for all, one DagBag per folder);
    ``extra_env`` is Airflow configuration for that process (the corpus measurement raises
    the per-file import timeout, which a loaded machine would otherwise hit)."""
    result = _dagbag(env, ["-", *map(str, dag_folders)], dict(extra_env or {}))
    imports = {}
    for folder in dag_folders:
        bag = result["bags"][str(folder)]
        errors = {_under(folder, path): error for path, error in bag["errors"].items()}
        files = {_under(folder, path) for path in bag["files"]} | set(errors)
        imports[folder] = FolderImport(frozenset(files), errors)
    return imports


def import_errors(
    env: airflow_env.AirflowEnv, dag_folders: Sequence[Path]
) -> dict[Path, set[Path]]:
    """For each folder, the files the target's DagBag cannot import (one process for all)."""
    return {folder: set(r.errors) for folder, r in import_folders(env, dag_folders).items()}


def _dagbag(env: airflow_env.AirflowEnv, args: list[str], extra: dict[str, str]) -> dict:
    """Run the DagBag probe; Airflow 2 gets a migrated metadata DB, as a local runner has.

    Airflow 2 DAG code may query the database while parsing (SubDagOperator does); Airflow 3
    parses without one. The migrated SQLite file is built once per version in the cache and
    copied for each run, so parsing can never change it.
    """
    if env.major >= 3:
        return run_probe(env, "dagbag_probe.py", args, extra)
    with tempfile.TemporaryDirectory(prefix="airshift-db-") as tmp:
        db = Path(tmp) / "airflow.db"
        shutil.copyfile(_migrated_db(env), db)
        return run_probe(env, "dagbag_probe.py", args, extra, db_url=f"sqlite:///{db}")


def _migrated_db(env: airflow_env.AirflowEnv) -> Path:
    path = airflow_env.cache_dir() / "dagbag-db" / f"airflow-{env.version}.db"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="airshift-db-") as tmp:
            fresh = Path(tmp) / "airflow.db"
            env.run(["db", "migrate"], home=Path(tmp), db_url=f"sqlite:///{fresh}")
            shutil.move(fresh, path.with_suffix(".tmp"))
            path.with_suffix(".tmp").replace(path)  # atomic: parallel runs never see half a DB
    return path


def _findings(project: Project, result: dict) -> list[Finding]:
    assert project.dags is not None
    bag = result["bags"][str(project.dags)]
    findings = []
    for path, error in bag["errors"].items():
        local = _local(project, path)
        findings.append(
            Finding(
                file=project.display(local),
                line=_error_line(str(local), error),
                rule="AS200",
                severity=Severity.BREAKS,
                message=f"Does not import on the target: {last_line(error)}",
                source="dagbag",
            )
        )
    for path, warnings in bag["warnings"].items():
        for warning in dict.fromkeys(warnings):
            match = _WARNING.match(warning)
            line = int(match["line"]) if match else 0
            message = match["message"] if match else warning
            findings.append(
                Finding(
                    file=project.display(_local(project, path)),
                    line=line,
                    rule="AS201",
                    severity=Severity.DEPRECATED,
                    message=f"Warning on import: {message.strip()}",
                    source="dagbag",
                )
            )
    for path, error in result["plugin_errors"].items():
        local = _local(project, path)
        findings.append(
            Finding(
                file=project.display(local) if local.exists() else "plugins",
                line=_error_line(str(local), error),
                rule="AS202",
                severity=Severity.BREAKS,
                message=f"Plugin does not load on the target: {last_line(error)}",
                source="dagbag",
            )
        )
    return findings


def _local(project: Project, path: str) -> Path:
    assert project.dags is not None
    return _under(project.dags, path)


def _under(folder: Path, path: str) -> Path:
    """DagBag reports paths absolute or relative to the DAG folder, depending on the version."""
    candidate = Path(path)
    return candidate if candidate.is_absolute() else folder / candidate


def _error_line(path: str, error: str) -> int:
    """The line of the innermost traceback frame in the file itself."""
    lines = re.findall(rf'File "{re.escape(path)}", line (\d+)', error)
    return int(lines[-1]) if lines else 0


_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*: ")


def last_line(error: str) -> str:
    """The ``SomeError: message`` line of a traceback (not SQLAlchemy's trailing hints)."""
    lines = [line.strip() for line in error.strip().splitlines() if line.strip()]
    named = [line for line in lines if _EXCEPTION_LINE.match(line)]
    return (named or lines or [error])[-1]
