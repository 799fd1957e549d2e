"""Custom FAB roles of a real Airflow 2.10.5 source: named with their permissions, not lost
silently when the ``ab_*`` tables are left out of the import."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from airshift import airflow_env
from tests.metadata.test_export import airshift


def test_custom_roles_are_named_with_every_permission(clone_db, tmp_path: Path) -> None:
    src = clone_db("2.10.5", "postgresql")
    env = airflow_env.ensure("2.10.5")
    with tempfile.TemporaryDirectory() as home:
        for args in (
            ["sync-perm"],
            ["roles", "create", "Analysts", "Auditors"],
            ["roles", "add-perms", "Analysts", "-r", "DAG:lab_retry_fail", "-a", "can_read"],
            ["roles", "add-perms", "Analysts", "-r", "DAG:lab_retry_fail", "-a", "can_edit"],
        ):
            extra = {"AIRFLOW__CORE__FERNET_KEY": src.fixture.fernet_key}
            env.run(args, Path(home), db_url=src.url, extra_env=extra)
    archive = tmp_path / "archive"
    exported = airshift("export", src.url, "--to", str(archive), "--secrets", "skip")
    assert exported.returncode == 0, exported.stderr[-3000:]

    inspected = airshift("inspect", str(archive), "--json")
    assert json.loads(inspected.stdout)["custom_roles"] == {
        "Analysts": ["can_edit on DAG:lab_retry_fail", "can_read on DAG:lab_retry_fail"],
        "Auditors": [],
    }
    said = " ".join(airshift("inspect", str(archive)).stdout.split())
    assert (
        "custom role not imported Analysts (re-create it on the target): "
        "can_edit on DAG:lab_retry_fail; can_read on DAG:lab_retry_fail" in said
    )
