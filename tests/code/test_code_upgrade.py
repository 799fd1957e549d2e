"""``airshift code upgrade``: diff by default, --write writes, idempotent, and far better than ruff alone."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from ruff.__main__ import find_ruff_bin
from typer.testing import CliRunner

from airshift import airflow_env
from airshift.cli import app
from airshift.code.check import CheckOptions
from airshift.code.import_check import import_errors
from airshift.code.upgrade import upgrade_project

runner = CliRunner()
UNSAFE_OLD = "from airflow.utils.python_virtualenv import write_python_script"
UNSAFE_SOURCE = (
    f"{UNSAFE_OLD}\nfrom airflow.operators.bash import BashOperator\n\n"
    "write_python_script({}, 'out.py')\nBashOperator\n"
)
STATIC = CheckOptions(import_check=False, resolve=False)


def _snapshot(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): p.read_text()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _import_errors(*folders: Path) -> list[set[str]]:
    """Per folder, the files the real Airflow 3.3.2 DagBag cannot import."""
    errors = import_errors(airflow_env.ensure("3.3.2"), folders)
    return [{path.name for path in errors[folder]} for folder in folders]


def test_diff_by_default_writes_nothing(legacy_project: Path) -> None:
    before = _snapshot(legacy_project)
    result = runner.invoke(
        app, ["code", "upgrade", str(legacy_project), "-t", "3.3.2", "--no-import-check"]
    )
    assert result.exit_code == 1  # SubDagOperator and the plugin still break
    assert "+from airflow.providers.standard.operators.bash import BashOperator" in result.output
    assert "run again with --write" in result.output
    assert "What is left after the fixes" in result.output
    assert _snapshot(legacy_project) == before


def test_write_fixes_imports_on_real_airflow3_and_is_idempotent(legacy_project: Path) -> None:
    result = upgrade_project(str(legacy_project), "3.3.2", write=True)
    assert result.written and result.report is not None
    left = {(f.file, f.rule) for f in result.report.findings}
    assert not {f for f, rule in left if rule in ("AS200", "AS111")}  # SubDag -> TaskGroup
    assert ("dags/metadata_access.py", "AS150") in left  # no automatic fix for DB access
    assert _import_errors(legacy_project / "dags") == [set()]
    subdag = (legacy_project / "dags" / "subdag_legacy.py").read_text()
    assert 'make_subdag("subdag_legacy", "section", group_id="section")' in subdag
    again = upgrade_project(str(legacy_project), "3.3.2", write=True, options=STATIC)
    assert again.changes == []


def test_airshift_rescues_far_more_than_ruff_alone(legacy_project: Path, tmp_path: Path) -> None:
    """Own corpus: ruff --select AIR --fix alone vs airshift upgrade, judged by the real DagBag."""
    ruff_copy = Path(shutil.copytree(legacy_project, tmp_path / "ruff"))
    subprocess.run(
        [
            find_ruff_bin(),
            "check",
            "--isolated",
            "--no-cache",
            "--select",
            "AIR",
            "--fix",
            "--exit-zero",
            str(ruff_copy),
        ],
        check=True,
        capture_output=True,
    )
    upgrade_project(str(legacy_project), "3.3.2", write=True, options=STATIC)
    ruff_failures, airshift_failures = _import_errors(ruff_copy / "dags", legacy_project / "dags")
    assert len(ruff_failures) >= 5
    assert airshift_failures == set()


def test_config_translations_are_written_next_to_the_originals(tmp_path: Path) -> None:
    (tmp_path / "airflow.cfg").write_text(
        "[core]\ncheck_slas = True\n\n[webserver]\nbase_url = http://x\n"
    )
    (tmp_path / "airflow.env").write_text("export AIRFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL=30\n")
    (tmp_path / "requirements.txt").write_text(
        "-c https://raw.githubusercontent.com/apache/airflow/constraints-2.10.5/constraints-3.11.txt\n"
    )
    originals = _snapshot(tmp_path)
    upgrade_project(str(tmp_path), "3.3.2", write=True, options=STATIC)
    after = _snapshot(tmp_path)
    assert {k: after[k] for k in originals} == originals  # never edited in place
    cfg = after["airflow.airflow-3.3.2.cfg"]
    assert "# removed in Airflow 3.3.2: check_slas = True" in cfg
    assert "[api]\nbase_url = http://x" in cfg
    assert (
        after["airflow.airflow-3.3.2.env"] == "export AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL=30\n"
    )
    assert "constraints-3.3.2/" in after["requirements.airflow-3.3.2.txt"]


def test_unparseable_files_are_left_alone(tmp_path: Path) -> None:
    (tmp_path / "dags").mkdir()
    (tmp_path / "dags" / "broken.py").write_text(
        "from airflow.operators.bash_operator import BashOperator\ndef (:\n"
    )
    result = upgrade_project(str(tmp_path), "3.3.2", write=True, options=STATIC)
    assert result.changes == []
    assert any("broken.py" in reason for reason in result.skipped)


def test_json_output_and_minor_version_target(legacy_project: Path) -> None:
    """``--target 3.3`` means the newest known 3.3.x, and the report says which."""
    result = runner.invoke(
        app,
        ["code", "upgrade", str(legacy_project), "-t", "3.3", "--no-import-check", "--json"],
    )
    document = json.loads(result.output)
    assert document["report"]["target"] == "3.3.2"
    assert any("3.3.2" in note for note in document["report"]["notes"])
    assert not document["written"]
    changed = {c["file"] for c in document["changes"]}
    assert "dags/bash_legacy.py" in changed
    assert all(c["diff"].startswith("--- a/") for c in document["changes"])


def test_unsafe_fixes_only_when_asked(tmp_path: Path) -> None:
    """An unverified move (different functions of that name on 3.3.2) waits for
    --unsafe-fixes; the safe fixes of the same file are applied either way."""
    dags = tmp_path / "dags"
    dags.mkdir()
    text = UNSAFE_SOURCE
    (dags / "d.py").write_text(text)
    safe = runner.invoke(
        app, ["code", "upgrade", str(tmp_path), "-t", "3.3.2", "--no-import-check", "--write"]
    )
    assert safe.exit_code in (0, 1)
    after_safe = (dags / "d.py").read_text()
    assert UNSAFE_OLD in after_safe
    runner.invoke(
        app,
        [
            "code",
            "upgrade",
            str(tmp_path),
            "-t",
            "3.3.2",
            "--no-import-check",
            "--write",
            "--unsafe-fixes",
        ],
    )
    assert UNSAFE_OLD not in (dags / "d.py").read_text()
