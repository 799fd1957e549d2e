"""airshift's library under SQLAlchemy 1.4 and psycopg2, as it runs in an Airflow 2 environment.

Why: an agent inside Airflow 2.x (or 3.0) has that environment's SQLAlchemy 1.4 and its
psycopg2, not the SQLAlchemy 2 and psycopg 3 of the user's machine. The export and the
import run there with the replica's own ``airshift`` (the agent's wheel, installed against
the release's pins), and everything they produce must equal what this machine's
airshift produces from the same database: the archive row for row, the target field for
field.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest
import sqlalchemy as sa

from airshift import db
from airshift.archive import ArchiveReader, sealed
from tests import rows
from tests.agent import write_probe
from tests.agent.conftest import CLI, opened_archive
from tests.metadata.test_oracle import _secrets
from tests.realairflow import build

pytestmark = pytest.mark.slow
V2 = "2.10.5"
SECRET_COLUMNS = {"connection": {"password", "extra"}, "variable": {"val"}}  # see _secrets


def _run(cli: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*cli, *args], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def _tables(url: str) -> dict[str, list[str]]:
    """Every table's rows, read through the raw driver (secret columns compared decrypted)."""
    engine = db.engine_for(url)
    out = {}
    try:
        with engine.connect() as conn:
            for table in sa.inspect(conn).get_table_names():
                result = conn.exec_driver_sql(f'SELECT * FROM "{table}"')
                hidden = SECRET_COLUMNS.get(table, set())
                names = list(result.keys())
                out[table] = rows.canon(
                    [
                        tuple(
                            None if n in hidden else rows.norm(v)
                            for n, v in zip(names, r, strict=True)
                        )
                        for r in result
                    ]
                )
    finally:
        engine.dispose()
    return out


def test_export_and_import_under_sqlalchemy_14_equal_sqlalchemy_2(agent_envs, clone_db, tmp_path):
    env = agent_envs(V2)
    theirs = [str(env.path / "bin" / "airshift")]
    probe = _run(
        [str(env.python), "-c"],
        "import sqlalchemy, airshift.backends as b; "
        "print(sqlalchemy.__version__, type(b.named('postgresql')).__name__)",
    )
    assert probe.stdout.split()[0].startswith("1.4.") and probe.stdout.split()[1] == "Psycopg2"

    private, public = sealed.new_key_pair()
    source = clone_db(V2, "postgresql")
    archives = {}
    for side, cli in (("sa14", theirs), ("sa2", CLI)):
        archives[side] = str(tmp_path / side)
        _run(cli, "export", source.url, "--to", archives[side], "--archive-key", public,
             "--fernet-key", source.fixture.fernet_key)  # fmt: skip
    exported = {side: opened_archive(ArchiveReader(a), private) for side, a in archives.items()}
    assert exported["sa14"] == exported["sa2"]
    assert exported["sa14"]["task_instance"] and exported["sa14"]["connection"]

    targets, reports = {}, {}
    for side, cli in (("sa14", theirs), ("sa2", CLI)):
        targets[side] = clone_db(V2, "postgresql", "target")
        proc = _run(cli, "import", archives["sa14"], targets[side].url, "--archive-key", private,
                    "--target-fernet-key", targets[side].fixture.fernet_key, "--json")  # fmt: skip
        reports[side] = json.loads(proc.stdout)["merge"]["tables"]
    inserted = {n: t["inserted"] for n, t in reports["sa14"].items()}
    assert inserted == {n: t["inserted"] for n, t in reports["sa2"].items()}
    assert inserted["task_instance"] > 0 and not any(
        t["differing"] for t in reports["sa14"].values()
    )
    key = targets["sa14"].fixture.fernet_key
    assert _tables(targets["sa14"].url) == _tables(targets["sa2"].url)
    assert _secrets(targets["sa14"].url, key) == _secrets(targets["sa2"].url, key)


def test_postgresql_writes_through_psycopg2_as_through_psycopg_3(agent_envs):
    """Each bulk write of the psycopg2 backend (COPY by ``copy_expert``, server to server
    through a pipe, batched inserts) reads back exactly what was written, as psycopg 3's."""
    env = agent_envs(V2)
    out = {}
    for python in (str(env.python), sys.executable):
        name = f"probe_{uuid.uuid4().hex[:10]}"
        proc = _run([python, write_probe.__file__], build.PG_SERVER, name)
        found = json.loads(proc.stdout)
        out[found["backend"]] = found
    assert sorted(out) == ["PostgreSQL", "Psycopg2"]
    assert out["Psycopg2"]["sqlalchemy"].startswith("1.4.")
    for found in out.values():
        assert found["written"] == found["copied"] == len(write_probe.expected())
        assert found["tables"] == [write_probe.expected()] * 2
