"""AS161's fix: requirements that bring back provider classes the target cannot import
(``airshift/data/provider_pins/``), written into the translated requirements and verified in
the real target."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from airshift.code import provider_pins, requirements
from airshift.code.check import CheckOptions
from airshift.code.findings import Applicability
from airshift.code.rules import RuleContext, apply_fixes, check_source
from airshift.code.target import parse_target
from airshift.code.upgrade import upgrade_project
from scripts import gen_moves, gen_provider_pins

TABLES = sorted(gen_provider_pins.OUT.glob("*.json"))
GOOGLE = "apache-airflow-providers-google"
EMPTY_TABLE = "airflow.providers.google.cloud.operators.bigquery.BigQueryCreateEmptyTableOperator"
AUTOML_HOOK = "airflow.providers.google.cloud.hooks.automl.CloudAutoMLHook"
GCS_TO_LOCAL = "airflow.providers.google.cloud.transfers.gcs_to_local.GCSToLocalFilesystemOperator"
BATCH_PREDICT = "airflow.providers.google.cloud.operators.automl.AutoMLBatchPredictOperator"
DAG = (
    "from airflow.providers.google.cloud.operators.bigquery import "
    "BigQueryCreateEmptyTableOperator\n"
    "from airflow.providers.google.cloud.hooks.automl import CloudAutoMLHook\n"
    "from airflow import DAG\n\n"
    'with DAG("pinned", schedule=None) as dag:\n'
    "    BigQueryCreateEmptyTableOperator(\n"
    '        task_id="t", dataset_id="d", table_id="t", time_partitioning={"type": "DAY"}\n'
    "    )\n"
)  # a shape AS162 does not rewrite (time partitioning): the fix is the pin
AF3 = parse_target("3.3.2")
STATIC = CheckOptions(import_check=False, resolve=False)


def _as161(source: str, ctx: RuleContext) -> list:
    return [f for f in check_source(source, "dag.py", ctx).findings if f.rule == "AS161"]


@pytest.mark.parametrize("table", TABLES, ids=[t.stem for t in TABLES])
def test_tables_come_from_todays_runtimes_and_the_signature_tables(table: Path) -> None:
    """Regenerate (``python scripts/gen_provider_pins.py``) when this fails: every class has a
    verified requirement, and is one the signature table says the target cannot import."""
    data = json.loads(table.read_text())
    assert data["runtimes"] == gen_moves.runtimes(table.stem)
    removed = json.loads((gen_moves.SIGNATURES / table.name).read_text())["removed_classes"]
    for path, entry in data["classes"].items():
        assert path in removed and path in data["verified"][entry["requirement"]], path
        name, _, release = entry["requirement"].partition("==")
        assert not release or path not in data["missing"][name][release], path


def test_the_removed_google_classes_have_a_verified_pin() -> None:
    """google 22.5.0 (with 3.3.2) dropped them; 16.1.0 and 18.1.0 are the newest that have
    them, and a folder needing both gets the release with which both import."""
    assert provider_pins.remedy(EMPTY_TABLE, AF3) == provider_pins.Remedy(
        f"{GOOGLE}==16.1.0", "removed"
    )
    assert provider_pins.remedy(AUTOML_HOOK, AF3) == provider_pins.Remedy(
        f"{GOOGLE}==18.1.0", "removed"
    )
    needed = provider_pins.needed([EMPTY_TABLE, AUTOML_HOOK], AF3)
    assert needed == {GOOGLE: provider_pins.Added(f"{GOOGLE}==16.1.0", [AUTOML_HOOK, EMPTY_TABLE])}
    assert needed[GOOGLE].fix is Applicability.SAFE


def test_a_pin_never_breaks_what_works_when_another_release_helps() -> None:
    """``GCSToLocalFilesystemOperator`` imports with google 22.5.0 but not with 16.1.0 (it
    needs ``MAX_XCOM_SIZE``, gone in Airflow 3; fixed in 17.x): a folder importing it too
    gets the newest release that keeps it and brings back what it can."""
    missing = provider_pins.pin_table(AF3).missing[GOOGLE]
    assert GCS_TO_LOCAL in missing["16.1.0"] and GCS_TO_LOCAL not in missing["18.1.0"]
    needed = provider_pins.needed([EMPTY_TABLE, AUTOML_HOOK, GCS_TO_LOCAL], AF3)
    assert needed == {GOOGLE: provider_pins.Added(f"{GOOGLE}==18.1.0", [AUTOML_HOOK])}


def test_a_pin_that_would_break_another_class_of_the_folder_is_unsafe() -> None:
    """google 12.0.0 is the newest with ``AutoMLBatchPredictOperator``, but its
    ``GCSToLocalFilesystemOperator`` does not import on Airflow 3 and no release that has the
    former keeps the latter: the pin is unsafe (written only with --unsafe-fixes), and says so."""
    needed = provider_pins.needed([BATCH_PREDICT, GCS_TO_LOCAL], AF3)
    assert needed[GOOGLE] == provider_pins.Added(
        f"{GOOGLE}==12.0.0", [BATCH_PREDICT], [GCS_TO_LOCAL]
    )
    assert needed[GOOGLE].fix is Applicability.UNSAFE


def test_as161_is_fixable_by_pin_and_leaves_the_code_alone() -> None:
    ctx = RuleContext(AF3, "dag")
    findings = _as161(DAG, ctx)
    assert [f.fix for f in findings] == [Applicability.SAFE, Applicability.SAFE]
    assert f"`{GOOGLE}==16.1.0`" in findings[0].message
    assert apply_fixes(DAG, ctx) == DAG  # the fix is the requirement, not an edit


def test_as161_is_quiet_once_the_requirements_bring_the_classes_back() -> None:
    pinned = {GOOGLE: Requirement(f"{GOOGLE}==16.1.0")}
    assert _as161(DAG, RuleContext(AF3, "dag", requirements=pinned)) == []
    chosen = {GOOGLE: Requirement(f"{GOOGLE}==21.0.0")}  # someone's own pin: unsafe to change
    findings = _as161(DAG, RuleContext(AF3, "dag", requirements=chosen))
    assert {f.fix for f in findings} == {Applicability.UNSAFE}
    assert "in place of" in findings[0].message


def _parsed(tmp_path: Path, text: str) -> requirements.RequirementsFile:
    path = tmp_path / "requirements.txt"
    path.write_text(text)
    return requirements.parse(path, "requirements.txt")


def test_translated_requirements_pin_and_switch_to_constraints_without_providers(
    tmp_path: Path,
) -> None:
    needed = provider_pins.needed([EMPTY_TABLE], AF3)
    url = "https://raw.githubusercontent.com/apache/airflow/constraints-{}/constraints-3.11.txt"
    parsed = _parsed(tmp_path, f"--constraint {url.format('2.10.5')}\n{GOOGLE}[leveldb]>=10\n")
    text = requirements.translated(parsed, AF3, needed)
    assert text is not None
    lines = text.splitlines()
    assert f"--constraint {url.format('3.3.2').replace('-3.11', '-no-providers-3.11')}" in lines
    assert f"# replaced by airshift: {GOOGLE}[leveldb]>=10" in lines
    assert lines[-1].startswith(f"{GOOGLE}[leveldb]==16.1.0  # added by airshift: ")
    again = _parsed(tmp_path, text)
    assert requirements.listed(again)[GOOGLE].specifier.contains("16.1.0")
    assert requirements.translated(again, AF3, needed) is None  # nothing left to change


def test_an_exact_pin_of_another_release_changes_only_with_unsafe(tmp_path: Path) -> None:
    needed = provider_pins.needed([EMPTY_TABLE], AF3)
    parsed = _parsed(tmp_path, f"{GOOGLE}==21.0.0\n")
    assert requirements.translated(parsed, AF3, needed) is None
    text = requirements.translated(parsed, AF3, needed, unsafe=True)
    assert text is not None and f"{GOOGLE}==16.1.0  # added by airshift" in text


def test_upgrade_writes_the_pin_for_a_folder_without_requirements(tmp_path: Path) -> None:
    (tmp_path / "dags").mkdir()
    (tmp_path / "dags" / "bq.py").write_text(DAG)
    result = upgrade_project(str(tmp_path), "3.3.2", write=True, options=STATIC)
    assert result.report is not None
    assert not [f for f in result.report.findings if f.rule == "AS161"]
    written = (tmp_path / "requirements.airflow-3.3.2.txt").read_text()
    assert written.startswith(f"{GOOGLE}==16.1.0  # added by airshift: ")
    assert (tmp_path / "dags" / "bq.py").read_text() == DAG
    again = upgrade_project(str(tmp_path), "3.3.2", write=True, options=STATIC)
    assert again.changes == []


@pytest.mark.slow
def test_the_pinned_folder_imports_on_real_airflow_3(tmp_path: Path) -> None:
    """The upgrade's own re-check installs the translated requirements into the real 3.3.2
    and imports the DAG with its DagBag: no AS161, no import error left."""
    (tmp_path / "dags").mkdir()
    (tmp_path / "dags" / "bq.py").write_text(DAG)
    result = upgrade_project(str(tmp_path), "3.3.2", options=CheckOptions(resolve=False))
    assert result.report is not None
    assert not [f for f in result.report.findings if f.rule in ("AS161", "AS200")]


@pytest.mark.slow
@pytest.mark.parametrize("table", TABLES, ids=[t.stem for t in TABLES])
def test_every_requirement_brings_its_classes_back_in_the_target(table: Path) -> None:
    """Each requirement, installed with the target and the usual providers, imports every
    class it is listed for (the runtimes are large: this runs where gen_moves' runtimes are)."""
    if not gen_moves.installed(table.stem):
        pytest.skip("the runtimes with providers are not installed (python scripts/gen_moves.py)")
    for requirement, paths in json.loads(table.read_text())["verified"].items():
        env = gen_provider_pins.runtime_with(table.stem, [requirement])
        assert gen_provider_pins.import_errors(env, paths) == {}, requirement
