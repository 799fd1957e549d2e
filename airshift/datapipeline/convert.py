"""The library entry points: convert one definition file, or a folder of them.

Why a thin layer: the CLI and the tests call exactly these functions, so everything the
command does can be checked without a terminal.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from pathlib import Path

from airshift.datapipeline import account
from airshift.datapipeline.builder import version_key
from airshift.datapipeline.codegen import generate
from airshift.datapipeline.loader import definition_from, load_definition, read_json
from airshift.datapipeline.model import Definition, Pipeline
from airshift.datapipeline.operators import SQL_TO_S3
from airshift.datapipeline.plan import plan_pipeline
from airshift.datapipeline.report import ConversionResult, DagFile, PipelineOutcome
from airshift.datapipeline.translate import Notes
from airshift.datapipeline.verify import AirflowCheck, Mode
from airshift.errors import AirshiftError

EC2_STRATEGIES = ("local", "ssm")
_PARAM = re.compile(r"#\{\s*(\*?my\w+)\s*\}")
_BASE_VERSIONS = {"apache-airflow": "3.0.0"}
_PACKAGES = {
    "airflow.providers.amazon": ("apache-airflow-providers-amazon", "9.0.0"),
    "airflow.providers.standard": ("apache-airflow-providers-standard", "1.0.0"),
    "airflow.providers.common.sql": ("apache-airflow-providers-common-sql", "1.20.0"),
}
# what an operator imports at run time beyond its provider (the provider's own extras)
_RUNTIME_NEEDS = {SQL_TO_S3: ("pandas", "2.1.2")}  # apache-airflow-providers-amazon[pandas]


def convert_file(
    path: Path,
    *,
    values: Path | None = None,
    parameters: Path | None = None,
    catchup: bool = False,
    activation: dt.datetime | None = None,
    dag_id: str | None = None,
    ec2_strategy: str = "local",
) -> ConversionResult:
    """Convert one definition (file or API form) into DAG modules and a report.

    ``ec2_strategy``: ``local`` runs shell activities on Airflow workers; ``ssm`` launches
    each Ec2Resource and runs them there through SSM.
    """
    definition = load_definition(Path(path), values, parameters)
    base = dag_id or dag_id_for(Path(path).stem)
    return convert_definition(
        definition, base, catchup=catchup, activation=activation, ec2_strategy=ec2_strategy
    )


def dag_id_for(name: str) -> str:
    """A DAG id from a file stem or a pipeline name: only ``[A-Za-z0-9_]``."""
    return re.sub(r"[^A-Za-z0-9_]", "_", name).strip("_") or "pipeline"


def convert_definition(
    definition: Definition,
    dag_id: str,
    *,
    catchup: bool = False,
    activation: dt.datetime | None = None,
    ec2_strategy: str = "local",
) -> ConversionResult:
    """Convert a loaded definition (from a file or from the account) into DAGs and a report."""
    if ec2_strategy not in EC2_STRATEGIES:
        raise AirshiftError(f"unknown EC2 strategy {ec2_strategy!r}; use one of {EC2_STRATEGIES}.")
    pipeline = Pipeline(definition)
    notes = Notes()
    when = activation or dt.datetime.now(dt.timezone.utc).replace(
        hour=0, minute=0, second=0, microsecond=0, tzinfo=None
    )
    plans, connections = plan_pipeline(pipeline, dag_id, when, notes, ec2_strategy)
    dags = [
        DagFile(p.dag_id, f"{p.dag_id}.py", generate(p, definition.source, catchup), p)
        for p in plans
    ]
    providers = dict(_BASE_VERSIONS)
    for plan in plans:
        for task in plan.tasks:
            for prefix, (package, version) in _PACKAGES.items():
                if task.operator.module.startswith(prefix):
                    providers.setdefault(package, version)
            if task.operator in _RUNTIME_NEEDS:
                package, version = _RUNTIME_NEEDS[task.operator]
                providers.setdefault(package, version)
        if plan.deadlines:
            providers["apache-airflow"] = "3.1.0"  # DeadlineAlert
        amazon = providers.get("apache-airflow-providers-amazon")
        if amazon and version_key(plan.min_amazon) > version_key(amazon):
            providers["apache-airflow-providers-amazon"] = plan.min_amazon
    objects = []
    for obj in pipeline.objects.values():
        tasks = [f"{p.dag_id}.{t.task_id}" for p in plans for t in p.tasks if t.source == obj.id]
        conns = [c.conn_id for c in connections.specs.values() if c.source == obj.id]
        kind = pipeline.type_of(obj) or ("Default" if obj.id == "Default" else "(parent fields)")
        note = (
            "inherited by other objects"
            if kind in ("Default", "(parent fields)")
            else "used at conversion time"
        )
        objects.append(
            {
                "id": obj.id,
                "type": kind,
                "name": obj.name,
                "tasks": tasks,
                "connections": conns,
                "note": note,
            }
        )
    used = {p.id for plan in plans for p in plan.params} | {
        s for plan in plans for s in plan.secrets
    }
    in_connections = {
        name
        for spec in connections.specs.values()
        for text in [
            *spec.fields.values(),
            *spec.extra.values(),
            *(
                v
                for v in pipeline.objects[spec.source].fields.get("*password", [])
                if isinstance(v, str)
            ),
        ]
        for name in _PARAM.findall(text)
    }
    untemplated = {}  # parameter -> why no template reads it
    for pid in definition.parameters:
        if pid in used or pid.lstrip("*") in used:
            continue
        if pid in pipeline.substituted:
            untemplated[pid] = "substituted at conversion time (a field Airflow does not template)"
        elif pid in in_connections:
            untemplated[pid] = "used only in connection fields"
        else:
            untemplated[pid] = "read by nothing"
    unused = [pid for pid, why in untemplated.items() if why == "read by nothing"]
    return ConversionResult(
        source=definition.source,
        dags=dags,
        objects=objects,
        connections=list(connections.specs.values()),
        todos=notes.todos,
        assumptions=notes.assumptions,
        repairs=definition.repairs,
        providers=providers,
        unused_parameters=unused,
        untemplated_parameters=untemplated,
    )


def definition_files(folder: Path) -> tuple[list[Path], list[Path]]:
    """JSON files under a folder that hold pipeline objects, and those skipped."""
    found: list[Path] = []
    skipped: list[Path] = []
    for path in sorted(folder.rglob("*.json")):
        try:
            raw, _ = read_json(path)
        except AirshiftError:
            found.append(path)  # let the conversion report the JSON error
            continue
        keys = {k.lower() for k in raw} if isinstance(raw, dict) else set()
        (found if keys & {"objects", "pipelineobjects"} else skipped).append(path)
    return found, skipped


def convert_folder(
    folder: Path,
    *,
    values: Path | None = None,
    parameters: Path | None = None,
    catchup: bool = False,
    activation: dt.datetime | None = None,
    ec2_strategy: str = "local",
) -> tuple[list[ConversionResult], list[tuple[Path, str]], list[Path]]:
    """Convert every definition under a folder; one bad file does not stop the others.

    A ``parameters.json``/``values.json`` next to a definition (the layout of the public
    samples) is applied to it unless files were given explicitly.
    """
    files, skipped = definition_files(folder)
    results, failures = [], []
    used_ids: set[str] = set()
    for path in files:
        relative = path.relative_to(folder).with_suffix("")
        base = dag_id_for("_".join(relative.parts))
        dag_id, n = base, 2
        while dag_id in used_ids:
            dag_id, n = f"{base}_{n}", n + 1
        used_ids.add(dag_id)
        siblings = {p.name: p for p in skipped if p.parent == path.parent}
        try:
            results.append(
                convert_file(
                    path,
                    values=values or siblings.get("values.json"),
                    parameters=parameters or siblings.get("parameters.json"),
                    catchup=catchup,
                    activation=activation,
                    dag_id=dag_id,
                    ec2_strategy=ec2_strategy,
                )
            )
        except AirshiftError as exc:
            failures.append((path, exc.message))
    return results, failures, skipped


def write_result(result: ConversionResult, out: Path) -> list[Path]:
    """Write the DAG files, the Markdown report and a connections stub; returns the paths.

    The stub (``airflow connections import <file>``) carries no passwords: they are set by
    hand or come from a secrets backend.
    """
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for dag in result.dags:
        target = out / dag.filename
        target.write_text(dag.code, encoding="utf-8")
        written.append(target)
    stem = result.dags[0].dag_id if result.dags else Path(result.source).stem
    report = out / f"{stem}.report.md"
    report.write_text(result.to_markdown(), encoding="utf-8")
    written.append(report)
    if result.connections:
        stub = out / f"{stem}.connections.json"
        stub.write_text(json.dumps(result.connections_stub(), indent=2) + "\n", encoding="utf-8")
        written.append(stub)
    return written


def convert_account(
    pipeline_id: str = "",
    *,
    region: str | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    catchup: bool = False,
    activation: dt.datetime | None = None,
    ec2_strategy: str = "local",
) -> list[PipelineOutcome]:
    """Convert one pipeline (``pipeline_id``) or every pipeline of the account's region.

    One pipeline that cannot be read or converted is reported and the others go on.
    ``progress(done, total, name)`` is called after each pipeline.
    """
    dp = account.client(region)
    region = region or dp.meta.region_name
    ids = [pipeline_id] if pipeline_id else [pid for pid, _ in account.list_pipelines(dp)]
    described = {p.pipeline_id: p for p in account.describe(dp, ids)}
    missing = [pid for pid in ids if pid not in described]
    if pipeline_id and missing:
        raise AirshiftError(f"pipeline {pipeline_id!r} not found in region {region}.")
    outcomes: list[PipelineOutcome] = []
    used: set[str] = set()
    for index, pid in enumerate(ids, 1):
        source = account.SCHEME + pid
        info = described.get(pid) or account.AccountPipeline(pid, pid)
        outcome = PipelineOutcome(source, info.origin(region))
        base = dag_id_for(info.name)
        dag_id = base if base not in used else f"{base}_{dag_id_for(pid)}"
        used.add(dag_id)
        try:
            definition = definition_from(account.definition(dp, info), source)
            result = convert_definition(
                definition,
                dag_id,
                catchup=catchup,
                activation=activation,
                ec2_strategy=ec2_strategy,
            )
            result.origin = outcome.origin
            outcome.result = result
        except AirshiftError as exc:
            outcome.error = exc.message
        outcomes.append(outcome)
        if progress is not None:
            progress(index, len(ids), info.name)
    return outcomes


def check_results(
    results: list[ConversionResult],
    folder: Path,
    mode: Mode,
    check: AirflowCheck,
    activation: dt.datetime | None = None,
) -> None:
    """Record on each DAG how far a real Airflow checked it (``import`` or ``run``).

    ``folder`` holds the written DAG files. ``run`` executes each DAG once with
    ``airflow dags test`` at its first scheduled date (or the activation date).
    """
    if mode == "none":
        return
    dags = [d for r in results for d in r.dags]
    imported = check.imported(folder, [d.dag_id for d in dags])
    for dag in dags:
        dag.verification = imported[dag.dag_id]
        if mode == "run" and dag.verification.ok:
            when = dag.plan.schedule.start or activation or dt.datetime.now(dt.timezone.utc)
            date = when.strftime("%Y-%m-%dT%H:%M:%S+00:00")
            dag.verification = check.run(folder / dag.filename, dag.dag_id, date)
