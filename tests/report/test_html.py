"""The HTML report of a known migration, opened in a real headless Chromium.

Why: the report is for people; it must open offline in a browser and show the same
numbers as the JSON report and the target itself. The screenshot stays in the test's tmp
folder for people to look at.
"""

from __future__ import annotations

import json

from tests import browser, rows
from tests.metadata.test_import import _migrate


def test_migration_report_renders_in_chromium_with_the_right_counts(clone_db, tmp_path) -> None:
    src, tgt = clone_db("2.10.5", "postgresql"), clone_db("3.3.2", "postgresql", "target")
    page = tmp_path / "report.html"
    proc = _migrate(src, tgt, "--report", str(page))
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    text = page.read_text()
    assert "http://" not in text and "https://" not in text and "<script" not in text
    assert src.fixture.fernet_key not in text and tgt.fixture.fernet_key not in text

    shown = browser.Counts(browser.dump_dom(page, tmp_path / "chromium"))
    merged = report["merge"]["tables"]
    for name in ("dag_run", "task_instance", "xcom", "variable", "connection"):
        for count in ("staged", "inserted", "existing", "differing"):
            assert shown.tables["import"][name][count] == merged[name][count], (name, count)
        assert shown.tables["import"][name]["archived"] == report["archived"][name]
    # ...and they are the target's: it held no runs before.
    assert shown.tables["import"]["dag_run"]["inserted"] == rows.count(tgt.url, "dag_run")
    assert shown.tables["import"]["*"]["inserted"] == sum(t["inserted"] for t in merged.values())
    assert shown.ids["source"] == report["source_revision"]

    png = browser.screenshot(page, tmp_path / "chromium", tmp_path / "report.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
