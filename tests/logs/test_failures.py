"""Per-file failures, resumption, conflicts, dry runs and filters, on real 2.10.5 logs."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from .conftest import AirflowHome, cli

pytestmark = pytest.mark.slow


def _copy(af: AirflowHome, src: Path, dst: Path, *args: str):
    return cli("logs", "copy", str(src), str(dst), "--metadata", af.db_url, *args)


def _report(proc) -> dict:
    return json.loads(proc.stdout)


def _without_file_access_override() -> tuple[str, ...]:
    """Root reads any file: drop that capability so a mode-000 file is unreadable."""
    if os.geteuid() != 0:
        return ()
    if not shutil.which("setpriv"):
        pytest.skip("running as root without setpriv: cannot make a file unreadable")
    return ("setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--")


def test_missing_and_unreadable_files_are_reported_and_the_rest_is_copied(
    af2: AirflowHome, tmp_path: Path
) -> None:
    source = tmp_path / "source"
    shutil.copytree(af2.logs, source)
    (next(source.rglob("task_id=flaky/attempt=1.log"))).unlink()
    unreadable = next(source.rglob("task_id=ok/attempt=1.log"))
    unreadable.chmod(0)
    args = (str(source), str(tmp_path / "target"), "--metadata", af2.db_url)
    proc = cli("logs", "copy", *args, prefix=_without_file_access_override())
    assert proc.returncode == 1
    assert "missing" in proc.stderr and "flaky" in proc.stderr
    assert "permission-denied" in proc.stderr and "ok" in proc.stderr
    assert "Traceback" not in proc.stderr
    # The summary table counts every outcome.
    assert "copied" in proc.stdout and "missing" in proc.stdout
    assert len(list((tmp_path / "target").rglob("*.log"))) == 3


def test_malformed_names_are_reported_per_file(af2: AirflowHome, tmp_path: Path) -> None:
    escape = (
        "{% if ti.task_id == 'ok' %}../{% endif %}"
        "{{ ti.dag_id }}/{{ ti.task_id }}/{{ ti.map_index }}/{{ try_number }}.log"
    )
    proc = _copy(af2, af2.logs, tmp_path / "t", "--target-template", escape, "--json")
    report = _report(proc)
    assert proc.returncode == 1
    assert report["counts"] == {"copied": 4, "malformed-name": 1}
    assert not (tmp_path / "logdemo").exists()


def test_resume_conflict_and_overwrite(af2: AirflowHome, tmp_path: Path) -> None:
    target = tmp_path / "t"
    assert _report(_copy(af2, af2.logs, target, "--json"))["counts"] == {"copied": 5}
    again = _copy(af2, af2.logs, target, "--json")
    assert again.returncode == 0 and _report(again)["counts"] == {"skipped": 5}

    changed = next(target.rglob("task_id=flaky/attempt=2.log"))
    changed.write_text("someone else's log\n")
    proc = _copy(af2, af2.logs, target, "--json")
    assert proc.returncode == 1
    assert _report(proc)["counts"] == {"skipped": 4, "conflict": 1}
    assert changed.read_text() == "someone else's log\n"

    proc = _copy(af2, af2.logs, target, "--overwrite", "--json")
    assert proc.returncode == 0
    assert _report(proc)["counts"] == {"skipped": 4, "copied": 1}
    assert changed.read_bytes() == next(af2.logs.rglob("task_id=flaky/attempt=2.log")).read_bytes()


def test_dry_run_lists_counts_and_bytes_and_writes_nothing(
    af2: AirflowHome, tmp_path: Path
) -> None:
    target = tmp_path / "t"
    report = _report(_copy(af2, af2.logs, target, "--dry-run", "--json"))
    assert report["counts"] == {"would-copy": 5}
    assert report["bytes"] == sum(p.stat().st_size for p in af2.logs.rglob("*.log"))
    assert not target.exists()
    human = _copy(af2, af2.logs, target, "--dry-run")
    assert human.returncode == 0
    assert human.stdout.count("would-copy") == 6  # five files and the summary row


@pytest.mark.parametrize(
    ("args", "counts"),
    [
        (["--state", "failed"], {"would-copy": 1}),
        (["--state", "success", "--dag-id", "logdemo"], {"would-copy": 4}),
        (["--last-runs", "1", "--days", "2"], {"would-copy": 5}),
    ],
)
def test_filters(af2: AirflowHome, tmp_path: Path, args: list[str], counts: dict) -> None:
    proc = _copy(af2, af2.logs, tmp_path / "t", "--dry-run", "--json", *args)
    assert _report(proc)["counts"] == counts


def test_nothing_selected_and_bad_metadata_are_clear_errors(
    af2: AirflowHome, tmp_path: Path
) -> None:
    proc = _copy(af2, af2.logs, tmp_path / "t", "--since", "2999-01-01")
    assert proc.returncode == 1 and "No task tries" in proc.stderr
    proc = cli("logs", "copy", "a", "b", "--metadata", f"sqlite:///{tmp_path / 'none.db'}")
    assert proc.returncode == 2 and "No SQLite database" in proc.stderr
    proc = cli("logs", "copy", "a", "b", "--metadata", str(af2.home / "dags"))  # not metadata
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
