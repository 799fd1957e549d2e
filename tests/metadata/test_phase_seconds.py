"""Every upgrade and import says where its time went (issue #17): Airflow's own migrations
apart from airshift's steps, in the --json report and on the terminal."""

from __future__ import annotations

import json
import time

from airshift.api.reports import ImportReport
from airshift.metadata.importer import PHASES, ImportResult
from airshift.report import html
from tests.metadata.test_export import airshift


def test_upgrade_reports_seconds_per_phase(clone_db, tmp_path) -> None:
    src = clone_db("2.10.5", "postgresql")
    archive, out = tmp_path / "archive", tmp_path / "archive3"
    proc = airshift("export", src.url, "--to", str(archive), "--secrets", "skip", "--json")
    assert proc.returncode == 0, proc.stderr
    started = time.monotonic()
    proc = airshift("upgrade", str(archive), "--to", "3.3.2", "--out", str(out), "--json")
    wall = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr[-3000:]
    seconds = json.loads(proc.stdout)["seconds"]
    steps = ["scratch_build", "scratch_load", "between_majors", "airflow_migrations", "read_back"]
    assert set(seconds) == set(steps)  # (the JSON is written with sorted keys)
    assert all(seconds[s] > 0 for s in steps)
    # Airflow's own migrations take most of an upgrade of a small database
    assert seconds["airflow_migrations"] == max(seconds.values())
    assert sum(seconds.values()) < wall
    proc = airshift("upgrade", str(archive), "--to", "3.3.2", "--out", str(tmp_path / "again"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert PHASES["airflow_migrations"] in proc.stdout


def test_the_html_report_says_where_the_time_went() -> None:
    result = ImportResult("5f2621c13b39", "1d8c2b1ea5e5", {}, {}, {})
    with result.timed("airflow_migrations"):
        time.sleep(0.01)
    page = html.render(ImportReport(result).as_dict())
    assert 'data-phase="airflow_migrations"' in page
    assert PHASES["airflow_migrations"].replace("'", "&#x27;") in page
