"""AS162: calls of the removed BigQuery table operators rewritten to `BigQueryCreateTableOperator`
for exactly the shapes proven to do the same, every other shape left as a finding."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from airshift.code.check import CheckOptions
from airshift.code.findings import Applicability
from airshift.code.import_check import import_folders
from airshift.code.import_cleanup import drop_leftover_imports
from airshift.code.rules import RuleContext, apply_fixes, check_source, successor
from airshift.code.sources import syntax_error
from airshift.code.target import parse_target
from airshift.code.upgrade import upgrade_project
from scripts import gen_moves, gen_provider_pins

GOOGLE = "apache-airflow-providers-google"
BQ = "from airflow.providers.google.cloud.operators.bigquery import"
AF3 = RuleContext(parse_target("3.3.2"), "dag")


def _code(text: str) -> str:
    return textwrap.dedent(text).lstrip()


def _as162(source: str, ctx: RuleContext = AF3) -> list:
    return [f for f in check_source(source, "dag.py", ctx).findings if f.rule == "AS162"]


# (before, after): each a shape the successor runs the same way, so a safe fix
SAFE = {
    "empty table with a literal schema": (
        f"""
        {BQ} (
            BigQueryCreateEmptyDatasetOperator,
            BigQueryCreateEmptyTableOperator,
            BigQueryDeleteDatasetOperator,
        )
        create = BigQueryCreateEmptyTableOperator(
            task_id="create",
            dataset_id=DATASET,
            table_id=f"{{TABLE}}_x",
            if_exists="ignore",
            schema_fields=[
                {{"name": "emp_name", "type": "STRING", "mode": "REQUIRED"}},
                {{"name": "salary", "type": "INTEGER", "mode": "NULLABLE"}},
            ],
        )
        """,
        f"""
        {BQ} (
            BigQueryCreateEmptyDatasetOperator,
            BigQueryDeleteDatasetOperator,
        )
        {BQ} BigQueryCreateTableOperator
        create = BigQueryCreateTableOperator(
            task_id="create",
            dataset_id=DATASET,
            table_id=f"{{TABLE}}_x",
            if_exists="ignore",
            table_resource={{"schema": {{"fields": [
                {{"name": "emp_name", "type": "STRING", "mode": "REQUIRED"}},
                {{"name": "salary", "type": "INTEGER", "mode": "NULLABLE"}},
            ]}}}},
        )
        """,
    ),
    "empty table without a schema, imported under another name": (
        f"""
        {BQ} BigQueryCreateEmptyTableOperator as Create
        a = Create(task_id="a", dataset_id="d", table_id="t", retries=2)
        b = Create(task_id="b", dataset_id="d", table_id="u", schema_fields=[])
        """,
        f"""
        {BQ} BigQueryCreateTableOperator as Create
        a = Create(task_id="a", dataset_id="d", table_id="t", retries=2, table_resource={{}})
        b = Create(task_id="b", dataset_id="d", table_id="u", table_resource={{}})
        """,
    ),
    "calls laid out without a trailing comma": (
        f"""
        {BQ} BigQueryCreateEmptyTableOperator, BigQueryCreateExternalTableOperator
        a = BigQueryCreateEmptyTableOperator(
            task_id="a",
            dataset_id="d",
            table_id="t"
        )
        b = BigQueryCreateEmptyTableOperator(task_id="b", dataset_id="d", table_id="t" )
        c = BigQueryCreateExternalTableOperator(
            task_id="c",
            table_resource={{"tableReference": {{"datasetId": "d", "tableId": "t"}}}},
            bucket="b"
        )
        """,
        f"""
        {BQ} BigQueryCreateTableOperator
        a = BigQueryCreateTableOperator(
            task_id="a",
            dataset_id="d",
            table_id="t",
            table_resource={{}}
        )
        b = BigQueryCreateTableOperator(task_id="b", dataset_id="d", table_id="t", table_resource={{}} )
        c = BigQueryCreateTableOperator(
            task_id="c",
            table_resource={{"tableReference": {{"datasetId": "d", "tableId": "t"}}}},
            dataset_id="d",
            table_id="t",
            if_exists="ignore"
        )
        """,
    ),
    "external table from a literal resource": (
        f"""
        {BQ} BigQueryCreateExternalTableOperator
        BigQueryCreateExternalTableOperator(
            task_id="external",
            bucket="my-bucket",
            table_resource={{
                "tableReference": {{"projectId": PROJECT, "datasetId": DATASET, "tableId": "t"}},
                "externalDataConfiguration": {{"sourceFormat": "CSV", "sourceUris": URIS}},
            }},
        )
        """,
        f"""
        {BQ} BigQueryCreateTableOperator
        BigQueryCreateTableOperator(
            task_id="external",
            table_resource={{
                "tableReference": {{"projectId": PROJECT, "datasetId": DATASET, "tableId": "t"}},
                "externalDataConfiguration": {{"sourceFormat": "CSV", "sourceUris": URIS}},
            }},
            dataset_id=DATASET,
            table_id="t",
            if_exists="ignore",
        )
        """,
    ),
}


@pytest.mark.parametrize("shape", sorted(SAFE))
@pytest.mark.parametrize("target", ["3.3.2", "3.4.0b2"])
def test_exact_shapes_are_safe_fixes_and_idempotent(shape: str, target: str) -> None:
    ctx = RuleContext(parse_target(target), "dag")
    before, after = (_code(t) for t in SAFE[shape])
    findings = _as162(before, ctx)
    assert findings and {f.fix for f in findings} == {Applicability.SAFE}, findings
    fixed = apply_fixes(before, ctx)
    assert fixed == after
    assert syntax_error(fixed) is None
    assert apply_fixes(fixed, ctx) == fixed
    assert _as162(fixed, ctx) == []


UNSAFE_BUCKET = _code(
    f"""
    {BQ} BigQueryCreateExternalTableOperator
    BigQueryCreateExternalTableOperator(
        task_id="external",
        bucket=BUCKET,
        table_resource={{"tableReference": {{"datasetId": "d", "tableId": "t"}}}},
    )
    """
)


def test_dropping_a_bucket_that_may_be_a_template_is_unsafe() -> None:
    """The old operator rendered `bucket` although it did not use it: a template in it
    that failed to render failed the task, so dropping it is a change a person confirms."""
    [finding] = _as162(UNSAFE_BUCKET)
    assert finding.fix is Applicability.UNSAFE and "`bucket`" in finding.message
    assert apply_fixes(UNSAFE_BUCKET, AF3) == UNSAFE_BUCKET
    fixed = apply_fixes(UNSAFE_BUCKET, AF3, unsafe=True)
    assert "bucket" not in fixed and 'if_exists="ignore"' in fixed
    assert apply_fixes(fixed, AF3, unsafe=True) == fixed


# shapes whose successor call would differ, or that cannot be read: findings without a fix
LEFT = {
    "location": 'E(task_id="a", dataset_id="d", table_id="t", location="EU")',
    "time partitioning": 'E(task_id="a", dataset_id="d", table_id="t", time_partitioning={})',
    "schema from a variable": 'E(task_id="a", dataset_id="d", table_id="t", schema_fields=S)',
    "a template in the schema": (
        'E(task_id="a", dataset_id="d", table_id="t", schema_fields=[{"name": "{{ ds }}"}])'
    ),
    "a string native rendering would turn into a number": (
        'E(task_id="a", dataset_id="d", table_id="t", schema_fields=[{"name": "1"}])'
    ),
    "exists_ok": 'E(task_id="a", dataset_id="d", table_id="t", exists_ok=True)',
    "no table_id": 'E(task_id="a", dataset_id="d")',
    "keyword splat": 'E(task_id="a", dataset_id="d", table_id="t", **more)',
    "external from keywords": 'X(task_id="a", bucket="b", source_objects=["o"])',
    "external resource in a variable": 'X(task_id="a", table_resource=RESOURCE)',
    "external resource without a table id": (
        'X(task_id="a", table_resource={"tableReference": {"datasetId": "d"}})'
    ),
    "external table id computed by a call": (
        'X(task_id="a", table_resource={"tableReference": {"datasetId": "d", "tableId": f()}})'
    ),
}


@pytest.mark.parametrize("shape", sorted(LEFT))
def test_other_shapes_are_findings_without_a_fix(shape: str) -> None:
    source = (
        f"{BQ} BigQueryCreateEmptyTableOperator as E, BigQueryCreateExternalTableOperator as X\n"
        f"{LEFT[shape]}\n"
    )
    [finding] = _as162(source)
    assert finding.fix is None and "by hand" in finding.message
    assert apply_fixes(source, AF3, unsafe=True) == source


def test_a_file_with_both_keeps_the_old_import_for_the_call_left_alone() -> None:
    source = _code(
        f"""
        {BQ} BigQueryCreateEmptyTableOperator
        a = BigQueryCreateEmptyTableOperator(task_id="a", dataset_id="d", table_id="t")
        b = BigQueryCreateEmptyTableOperator(task_id="b", dataset_id="d", table_id="t", view=V)
        """
    )
    fixed = apply_fixes(source, AF3)
    assert fixed.splitlines() == [
        f"{BQ} BigQueryCreateTableOperator, BigQueryCreateEmptyTableOperator",
        'a = BigQueryCreateTableOperator(task_id="a", dataset_id="d", table_id="t", '
        "table_resource={})",
        'b = BigQueryCreateEmptyTableOperator(task_id="b", dataset_id="d", table_id="t", view=V)',
    ]
    assert apply_fixes(fixed, AF3) == fixed


def test_not_reported_where_the_class_still_exists_or_the_requirements_bring_it_back() -> None:
    source = (
        f'{BQ} BigQueryCreateEmptyTableOperator\nBigQueryCreateEmptyTableOperator(task_id="a")\n'
    )
    assert _as162(source, RuleContext(parse_target("2.10.5"), "dag")) == []
    pinned = {GOOGLE: Requirement(f"{GOOGLE}==16.1.0")}
    assert _as162(source, RuleContext(parse_target("3.3.2"), "dag", requirements=pinned)) == []


def test_a_name_the_file_already_binds_otherwise_is_not_taken() -> None:
    source = (
        f"{BQ} BigQueryCreateEmptyTableOperator\n"
        "BigQueryCreateTableOperator = object\n"
        'BigQueryCreateEmptyTableOperator(task_id="a", dataset_id="d", table_id="t")\n'
    )
    [finding] = _as162(source)
    assert finding.fix is None
    assert apply_fixes(source, AF3) == source


DEV_SHAPE = _code(
    f"""
    from datetime import datetime
    from airflow import models
    {BQ} (
        BigQueryCreateEmptyDatasetOperator,
        BigQueryCreateEmptyTableOperator,
    )

    with models.DAG("bq", schedule_interval=None, start_date=datetime(2021, 1, 1)) as dag:
        create_dataset = BigQueryCreateEmptyDatasetOperator(task_id="ds", dataset_id="d")
        for table in ["a", "b"]:
            create_table = BigQueryCreateEmptyTableOperator(
                task_id=f"create_{{table}}_table",
                dataset_id="d",
                table_id=table,
                schema_fields=[{{"name": "emp_name", "type": "STRING", "mode": "REQUIRED"}}],
            )
            create_dataset >> create_table
    """
)


def test_upgrade_rewrites_the_call_and_adds_no_pin(tmp_path: Path) -> None:
    """The shape of google 6.8.0's BigQuery examples: after the upgrade no AS161/AS162 is
    left, and no older google release is pinned for the class."""
    (tmp_path / "dags").mkdir()
    (tmp_path / "dags" / "bq.py").write_text(DEV_SHAPE)
    static = CheckOptions(import_check=False, resolve=False)
    result = upgrade_project(str(tmp_path), "3.3.2", write=True, options=static)
    assert result.report is not None
    assert not [f for f in result.report.findings if f.rule in ("AS161", "AS162")]
    written = (tmp_path / "dags" / "bq.py").read_text()
    assert "BigQueryCreateEmptyTableOperator" not in written
    assert not (tmp_path / "requirements.airflow-3.3.2.txt").exists()
    assert upgrade_project(str(tmp_path), "3.3.2", write=True, options=static).changes == []


BOTH = DEV_SHAPE.replace(
    "    BigQueryCreateEmptyTableOperator,\n",
    "    BigQueryCreateEmptyTableOperator,\n    BigQueryCreateExternalTableOperator,\n",
) + textwrap.indent(
    _code(
        """
        BigQueryCreateExternalTableOperator(
            task_id="external",
            bucket="{{ var.value.bucket }}",
            table_resource={"tableReference": {"datasetId": "d", "tableId": "t"}},
        )
        """
    ),
    "    ",
)


@pytest.mark.slow
@pytest.mark.parametrize("target", ["3.3.2", "3.4.0b2"])
def test_the_rewritten_dag_imports_with_the_targets_google(tmp_path: Path, target: str) -> None:
    """Both rewrites (the external one unsafe here: its bucket is a template) give a DAG
    that the real target's DagBag imports with the target's own google provider."""
    if not gen_moves.installed(target):
        pytest.skip("the runtimes with providers are not installed (python scripts/gen_moves.py)")
    fixed = apply_fixes(BOTH, RuleContext(parse_target(target), "dag"), unsafe=True)
    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "bq.py").write_text(drop_leftover_imports(BOTH, fixed))
    written = (folder / "bq.py").read_text()
    assert "CreateEmptyTable" not in written and "CreateExternalTable" not in written
    [imported] = import_folders(gen_moves.runtime(target), [folder]).values()
    assert imported.errors == {}
    assert imported.clean == {folder / "bq.py"}


def test_as161_offers_no_pin_for_a_class_whose_every_call_is_rewritten() -> None:
    """The import goes with the rewrite, so AS161's pin would be a promise the upgrade does
    not keep; a call left as it is keeps AS161 (and its pin) for the class."""
    rules = {f.rule for f in check_source(DEV_SHAPE, "dag.py", AF3).findings}
    assert "AS162" in rules and "AS161" not in rules
    left = DEV_SHAPE.replace("table_id=table,", 'table_id=table, location="EU",')
    rules = {f.rule for f in check_source(left, "dag.py", AF3).findings}
    assert {"AS161", "AS162"} <= rules


FACTS = """
import inspect, json, sys, warnings
warnings.simplefilter("ignore")
from airflow.providers.google.cloud.operators import bigquery
facts = {}
for name in sys.argv[1:]:
    cls = getattr(bigquery, name, None)
    if cls is not None:
        own = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "kwargs")]
        facts[name] = {"own": sorted(own), "templated": sorted(cls.template_fields),
                       "template_ext": list(cls.template_ext)}
print("@@FACTS@@" + json.dumps(facts))
"""


def _operator_facts(env, names: list[str], tmp_path: Path) -> dict:
    proc = env.run(["python", "-c", FACTS, *names], home=tmp_path / env.version)
    return json.loads(proc.stdout.rsplit("@@FACTS@@", 1)[1])


@pytest.mark.slow
@pytest.mark.parametrize("target", ["3.3.2", "3.4.0b2"])
def test_the_premises_hold_in_the_real_operators(tmp_path: Path, target: str) -> None:
    """What the shapes rest on, asked of the real classes: the arguments each operator takes
    itself (google 16.1.0 for the old ones, the target's google for the successor), that the
    old empty-table operator does not template `schema_fields` while the successor templates
    `table_resource`, and that none loads template files."""
    if not gen_moves.installed(target):
        pytest.skip("the runtimes with providers are not installed (python scripts/gen_moves.py)")
    old_names = ["BigQueryCreateEmptyTableOperator", "BigQueryCreateExternalTableOperator"]
    pinned = gen_provider_pins.runtime_with(target, [f"{GOOGLE}==16.1.0"])
    old = _operator_facts(pinned, old_names, tmp_path)
    new = _operator_facts(gen_moves.runtime(target), [successor.SUCCESSOR], tmp_path)
    assert old[old_names[0]]["own"] == sorted(successor.EMPTY_TABLE_OWN)
    assert old[old_names[1]]["own"] == sorted(successor.EXTERNAL_TABLE_OWN)
    assert new[successor.SUCCESSOR]["own"] == sorted(successor.SUCCESSOR_OWN)
    assert "schema_fields" not in old[old_names[0]]["templated"]
    assert "table_resource" in new[successor.SUCCESSOR]["templated"]
    assert set(new[successor.SUCCESSOR]["templated"]) <= successor.SUCCESSOR_OWN
    assert all(not facts["template_ext"] for facts in (*old.values(), *new.values()))


CALL = 'BigQueryCreateEmptyTableOperator(task_id="a", dataset_id="d", table_id="t")'
# (what the DAG file says about default_args, whether the rewrite stays safe)
DEFAULTS = {
    "arguments neither class takes": ('DAG("x", default_args={"owner": "me", "retries": 2})', True),
    "a plain connection id both take": ('DAG("x", default_args={"gcp_conn_id": "gcp"})', True),
    "a name bound once to a dict": ('ARGS = {"retries": 1}\nDAG("x", default_args=ARGS)', True),
    "a templated connection id": (
        'DAG("x", default_args={"gcp_conn_id": "{{ var.value.c }}"})',
        False,
    ),
    "a sensor timeout the successor would take": ('DAG("x", default_args={"timeout": 60})', False),
    "labels only the old class takes": (
        'ARGS = {"labels": {"a": "b"}}\nDAG("x", default_args=ARGS)',
        False,
    ),
    "a location": ('DAG("x", default_args={"location": "EU"})', False),
    "a dict changed later": ('ARGS = {}\nARGS["timeout"] = 60\nDAG("x", default_args=ARGS)', False),
    "a dict from a call": ('DAG("x", default_args=dict(retries=1))', False),
    "a DAG from a splat": ('DAG("x", **CONFIG)', False),
    "default_args read off the DAG": ('dag = DAG("x")\ndag.default_args["timeout"] = 60', False),
}


@pytest.mark.parametrize("shape", sorted(DEFAULTS))
def test_default_args_that_fill_the_two_classes_differently_make_the_rewrite_unsafe(
    shape: str,
) -> None:
    """Airflow fills each argument a class takes from `default_args`: a key one class takes
    and the other does not (or templates differently) changes what the task does."""
    dag, safe = DEFAULTS[shape]
    source = f"from airflow import DAG\n{BQ} BigQueryCreateEmptyTableOperator\n{dag}\n{CALL}\n"
    [finding] = _as162(source)
    assert finding.fix is (Applicability.SAFE if safe else Applicability.UNSAFE), finding
    assert (apply_fixes(source, AF3) != source) is safe
    assert apply_fixes(source, AF3, unsafe=True) != source
