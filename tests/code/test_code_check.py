"""``airshift code check`` on real input: the legacy corpus, bad files, config, requirements, output formats."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from airshift import airflow_env
from airshift.cli import app
from airshift.code import requirements
from airshift.code.check import CheckOptions, check_project
from airshift.code.findings import Severity
from airshift.code.import_check import import_errors
from airshift.code.moves import moves_for
from airshift.code.target import parse_target
from airshift.code.upgrade import upgrade_project
from airshift.errors import AirshiftError

runner = CliRunner()
STATIC = CheckOptions(import_check=False, resolve=False)


def _cli(*args: str):
    return runner.invoke(app, ["code", *args])


def test_legacy_corpus_findings_and_real_dagbag(legacy_project: Path) -> None:
    result = _cli("check", str(legacy_project), "--target", "3.3.2", "--json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    rules = {(f["file"], f["rule"]) for f in report["findings"]}
    for expected in [
        ("dags/bash_legacy.py", "AS102"),
        ("dags/bash_legacy.py", "AS120"),
        ("dags/bash_legacy.py", "AS130"),
        ("dags/contrib_sensor.py", "AS101"),
        ("dags/python_provide_context.py", "AS110"),
        ("dags/subdag_legacy.py", "AS111"),
        ("dags/metadata_access.py", "AS150"),
        ("dags/early2_style.py", "AS131"),
        ("plugins/legacy_plugin.py", "AS140"),
        ("plugins/legacy_plugin.py", "AS141"),
        ("dags/bash_legacy.py", "AIR311"),  # ruff's rules run too
    ]:
        assert expected in rules, expected
    not_importing = {f["file"] for f in report["findings"] if f["rule"] == "AS200"}
    assert not_importing == {
        "dags/bash_legacy.py",
        "dags/contrib_sensor.py",
        "dags/early2_style.py",
        "dags/metadata_access.py",
        "dags/python_provide_context.py",
        "dags/subdag_legacy.py",
    }
    assert ("plugins/legacy_plugin.py", "AS202") in rules  # the real plugin manager fails on flask
    assert not [
        f for f in report["findings"] if f["file"] == "dags/modern.py" and f["severity"] == "breaks"
    ]


def test_superseded_ruff_findings_are_not_repeated(legacy_project: Path) -> None:
    report = check_project(str(legacy_project), "3.3.2", STATIC)
    at_provide_context = [
        f for f in report.findings if f.file.endswith("python_provide_context.py") and f.line == 17
    ]
    assert "AS110" in {f.rule for f in at_provide_context}
    assert not [
        f for f in at_provide_context if f.rule == "AIR301" and "provide_context" in f.message
    ]


def test_bad_input_becomes_findings_not_crashes(tmp_path: Path) -> None:
    (tmp_path / "dags").mkdir()
    (tmp_path / "dags" / "broken.py").write_text("def broken(:\n    pass\n")
    (tmp_path / "dags" / "binary.py").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0")
    (tmp_path / "dags" / "latin1.py").write_bytes("x = 'caf\xe9'\n".encode("latin-1"))
    (tmp_path / "plugins.zip").write_bytes(b"this is not a zip archive")
    report = check_project(str(tmp_path), "3.3.2", STATIC)
    by_file = {f.file: f for f in report.findings}
    assert by_file["dags/broken.py"].rule == "AS002" and by_file["dags/broken.py"].line == 1
    assert "binary" in by_file["dags/binary.py"].message
    assert "UTF-8" in by_file["dags/latin1.py"].message
    assert by_file["plugins.zip"].rule == "AS001"
    assert all(f.severity is Severity.BREAKS for f in by_file.values())


def test_unknown_target_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(AirshiftError, match=r"Unknown Airflow target version '4\.0\.0'"):
        check_project(str(tmp_path), "4.0.0", STATIC)
    cli = Path(sys.executable).with_name("airshift")
    proc = subprocess.run(
        [cli, "code", "check", str(tmp_path), "--target", "3.9"], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert "Unknown Airflow target version '3.9'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_missing_project_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(AirshiftError, match="is not a folder"):
        check_project(str(tmp_path / "nope"), "3.3.2", STATIC)


def test_sarif_output(legacy_project: Path) -> None:
    result = _cli(
        "check", str(legacy_project), "-t", "3.3.2", "--format", "sarif", "--no-import-check"
    )
    sarif = json.loads(result.output)
    assert sarif["version"] == "2.1.0"
    results = sarif["runs"][0]["results"]
    provide = next(r for r in results if r["ruleId"] == "AS110")
    location = provide["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "dags/python_provide_context.py"
    assert location["region"]["startLine"] == 17
    assert provide["level"] == "error"
    assert {"AS110", "AIR311"} <= {
        rule["id"] for rule in sarif["runs"][0]["tool"]["driver"]["rules"]
    }


def test_table_output_and_exit_code_for_a_clean_project(tmp_path: Path) -> None:
    (tmp_path / "dags").mkdir()
    (tmp_path / "dags" / "ok.py").write_text(
        (Path(__file__).parent / "corpus/legacy/dags/modern.py").read_text()
    )
    result = _cli("check", str(tmp_path), "-t", "3.3.2")
    assert result.exit_code == 0, result.output
    assert "Airflow 3.3.2: works" in result.output


CFG = """\
[core]
dags_folder = /opt/airflow/dags
check_slas = True

[webserver]
base_url = http://localhost:8080
"""


def test_config_in_all_three_forms(tmp_path: Path) -> None:
    (tmp_path / "airflow.cfg").write_text(CFG)
    (tmp_path / "mwaa-options.txt").write_text(
        "scheduler.dag_dir_list_interval=30\ncore.not_an_option=1\n"
    )
    (tmp_path / "airflow.env").write_text("AIRFLOW__ADMIN__HIDE_SENSITIVE_VARIABLE_FIELDS=True\n")
    report = check_project(str(tmp_path), "3.3.2", STATIC)
    found = {(f.file, f.line, f.rule) for f in report.findings if f.rule.startswith("AS30")}
    defaults = {f.message.split(" is not set")[0] for f in found_defaults(report)}
    assert "[scheduler] catchup_by_default" in defaults
    assert found - {f for f in found if f[2] == "AS304"} == {
        ("airflow.cfg", 3, "AS302"),  # check_slas removed
        ("airflow.cfg", 6, "AS301"),  # [webserver] base_url -> [api] base_url
        ("mwaa-options.txt", 1, "AS301"),  # -> [dag_processor] refresh_interval
        ("mwaa-options.txt", 2, "AS303"),  # unknown to the target
        ("airflow.env", 1, "AS301"),  # -> [core] hide_sensitive_var_conn_fields
    }


def found_defaults(report):
    return [f for f in report.findings if f.rule == "AS304"]


def test_requirements_against_the_target(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text(
        "--constraint https://raw.githubusercontent.com/apache/airflow/constraints-2.7.2/constraints-3.11.txt\n"
        "apache-airflow==2.7.2\n"
        "airshift-no-such-package-for-tests==1.0\n"
    )
    report = check_project(str(tmp_path), "3.3.2", CheckOptions(import_check=False))
    found = {(f.line, f.rule) for f in report.findings if f.source == "requirements"}
    assert {(1, "AS402"), (2, "AS401"), (3, "AS404")} <= found, report.findings


def test_object_store_url_is_copied_and_checked(legacy_project: Path) -> None:
    """fsspec URLs (s3://, gs://, ... here file://) are copied to a temporary folder first."""
    report = check_project(f"file://{legacy_project}", "3.3.2", STATIC)
    assert ("dags/python_provide_context.py", "AS110") in {
        (f.file, f.rule) for f in report.findings
    }
    with pytest.raises(AirshiftError, match="local project folder"):
        upgrade_project(f"file://{legacy_project}", "3.3.2", write=True, options=STATIC)


def test_old_provider_pin_is_reported_from_its_real_metadata(tmp_path: Path) -> None:
    """The import check installs the pinned provider next to Airflow 3; its metadata dates it."""
    (tmp_path / "requirements.txt").write_text("apache-airflow-providers-http==4.0.0\n")
    (tmp_path / "dags").mkdir()
    report = check_project(str(tmp_path), "3.3.2", CheckOptions(resolve=False))
    (finding,) = [f for f in report.findings if f.rule == "AS403"]
    assert finding.line == 1 and "4.0.0 predates Airflow 3" in finding.message


def test_airflow2_target_reports_deprecation_warnings_from_the_real_dagbag(
    legacy_project: Path,
) -> None:
    """On 2.10.5 the 1.10 names still import (with warnings); SubDagOperator still works."""
    report = check_project(str(legacy_project), "2.10.5", CheckOptions(resolve=False))
    failing = {f.file for f in report.findings if f.rule == "AS200"}
    assert failing == {"dags/modern.py"}  # the standard provider is not part of Airflow 2
    warnings = {(f.file, f.line) for f in report.findings if f.rule == "AS201"}
    assert ("dags/bash_legacy.py", 6) in warnings  # airflow.operators.bash_operator
    by_rule = {f.rule: f for f in report.findings if f.file == "dags/python_provide_context.py"}
    assert by_rule["AS110"].severity is Severity.DEPRECATED
    assert "AS111" not in {f.rule for f in report.findings}


def test_stale_cached_environment_is_spotted(tmp_path: Path) -> None:
    """airflow_env caches requirement venvs by package name; a changed pin must not go unnoticed."""
    path = tmp_path / "requirements.txt"
    path.write_text("apache-airflow-providers-http==5.0.0\nrequests\n")
    parsed = requirements.parse(path, "requirements.txt")
    installed = {"apache-airflow-providers-http": "4.0.0", "requests": "2.32.0"}
    assert requirements.stale_environment(parsed, installed) == [
        "apache-airflow-providers-http==5.0.0 (installed: 4.0.0)"
    ]


def test_plugins_zip_is_checked_but_never_written(legacy_project: Path) -> None:
    plugins = legacy_project / "plugins"
    with zipfile.ZipFile(legacy_project / "plugins.zip", "w") as archive:
        archive.write(plugins / "legacy_plugin.py", "legacy_plugin.py")
    shutil.rmtree(plugins)
    report = check_project(str(legacy_project), "3.3.2", STATIC)
    assert ("plugins.zip:legacy_plugin.py", "AS141") in {(f.file, f.rule) for f in report.findings}
    result = upgrade_project(str(legacy_project), "3.3.2", write=True, options=STATIC)
    assert any(reason.startswith("plugins.zip:legacy_plugin.py") for reason in result.skipped)


def test_dagbag_sees_the_folder_as_the_scheduler_does(tmp_path: Path) -> None:
    """Helper modules beside the DAGs import (the DAG folder is on sys.path), .airflowignore
    applies, and two folders loaded in one process never share a helper module."""
    for name, value in (("one", "1"), ("two", "2")):
        dags = tmp_path / name / "dags"
        (dags / "common").mkdir(parents=True)
        (dags / "_compat.py").write_text(f"VALUE = {value}\n")
        (dags / "common" / "__init__.py").write_text("")
        (dags / "common" / "helpers.py").write_text("def tag():\n    return 'x'\n")
        (dags / "d.py").write_text(
            "import pendulum\nfrom airflow.sdk import DAG\nfrom _compat import VALUE\n"
            "from common.helpers import tag\n\n"
            f"assert VALUE == {value}\n"
            "with DAG(f'd{VALUE}', start_date=pendulum.datetime(2024, 1, 1), schedule=None, "
            "tags=[tag()]):\n    pass\n"
        )
        (dags / "ignored_dag.py").write_text("import airflow\nraise RuntimeError('dag ignored')\n")
        (dags / ".airflowignore").write_text("ignored_*\n")  # glob (3.x) and regexp (2.x)
    errors = import_errors(
        airflow_env.ensure("3.3.2"), [tmp_path / "one" / "dags", tmp_path / "two" / "dags"]
    )
    assert errors == {tmp_path / "one" / "dags": set(), tmp_path / "two" / "dags": set()}
    report = check_project(str(tmp_path / "one"), "3.3.2", CheckOptions(resolve=False))
    assert not [f for f in report.findings if f.rule == "AS200"]


def test_pre_release_targets_are_known_by_name_and_minor() -> None:
    """3.4 has only a pre-release so far: ``--target 3.4`` means it and says so; it has its own
    move table (generated from the 3.4.0b2 runtime), not 3.3.2's."""
    assert parse_target("3.4.0b2").version == "3.4.0b2"
    minor = parse_target("3.4")
    assert minor.version == "3.4.0b2" and "3.4.0b2" in minor.note
    assert minor.major == 3 and minor.at_least("3.3.2")
    assert moves_for(minor).table == "3.4.0b2"
