"""The version matrix: every Airflow version Amazon MWAA runs, migrated by airshift.

Each MWAA 2.x version goes into the newest 3.x, one 2.x source into every MWAA 3.x
version, and every MWAA version (and 3.4 itself) into 3.4, on PostgreSQL (what MWAA runs), each from a small history fixture made by that
release's own Airflow (``build.make_history(light=True)``): a task that fails once and
succeeds on its retry, one that fails both tries, XComs, a queued run with a conf, variables
and a connection with a password. Every pair goes through the four commands a user runs:
``export``, ``upgrade --to``, ``import`` and ``verify``; then the target's own Airflow (its
ORM, ``probe.py``) must show every run, task instance, try, XCom, note and secret.

The full matrix takes long (each pair runs two or three Airflow releases' migrations), so
the default run takes one pair, the oldest source, which walks the longest migration path;
``pytest --matrix tests/metadata/test_version_matrix.py`` runs them all (docs/airflow-3.4.md
has the results and the timings behind this choice).
"""

from __future__ import annotations

import json

import pytest

from tests.metadata.test_export import airshift
from tests.realairflow import build
from tests.realairflow.versions import AIRFLOW_3_4, MWAA_2X, MWAA_3X, NEWEST_3X

# The 2.x source for the 3.x targets: the newest MWAA 2.x, the one MWAA itself upgrades from.
SOURCE_FOR_3X = MWAA_2X[-1]
PAIRS = (
    [(v, NEWEST_3X) for v in MWAA_2X]
    + [(SOURCE_FOR_3X, v) for v in MWAA_3X]
    # 3.4's schema change (every try a task_instance row, xcom_v1/xcom_v2) from every MWAA
    # version, and 3.4 as a source (its archive merged as it is, no scratch).
    + [(v, AIRFLOW_3_4) for v in (*MWAA_2X, *MWAA_3X, AIRFLOW_3_4)]
)
DEFAULT = {(MWAA_2X[0], NEWEST_3X)}  # the oldest source: the longest migration path
COMPARED = ("runs", "tis", "xcoms", "run_notes", "ti_notes", "variables", "connections")


def _ok(proc) -> dict:
    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-3000:])
    return json.loads(proc.stdout)


def _missing_tries(view: dict) -> list[tuple]:
    """Tries a task instance has had (1 .. its try number) that are neither its current
    row nor an earlier try the target shows: there must be none."""
    have = {(*t[:4], t[4]) for t in view["tries"]}
    return [(*ti[:4], n) for ti in view["tis"] for n in range(1, ti[5]) if (*ti[:4], n) not in have]


@pytest.mark.parametrize(
    ("source", "target"),
    [pytest.param(s, t, marks=() if (s, t) in DEFAULT else pytest.mark.matrix) for s, t in PAIRS],
    ids=[f"{s}-to-{t}" for s, t in PAIRS],
)
def test_mwaa_version_pair(clone_db, tmp_path, source: str, target: str) -> None:
    src = clone_db(source, "postgresql", "light")
    tgt = clone_db(target, "postgresql", "target")
    before = build.probe(src.fixture, src.url, tmp_path / "h1", src.fixture.fernet_key)
    archive, upgraded = str(tmp_path / "archive"), str(tmp_path / f"archive-{target}")
    exported = _ok(
        airshift(
            "export", src.url, "--to", archive, "--fernet-key", src.fixture.fernet_key, "--json"
        )
    )
    key = exported["generated_archive_key"]
    _ok(
        airshift(
            "upgrade", archive, "--to", target, "--out", upgraded, "--archive-key", key, "--json"
        )
    )
    with_keys = ["--archive-key", key, "--target-fernet-key", tgt.fixture.fernet_key, "--json"]
    report = _ok(airshift("import", upgraded, tgt.url, *with_keys))
    assert all(t["differing"] == 0 for t in report["merge"]["tables"].values())

    after = build.probe(target, tgt.url, tmp_path / "h2", tgt.fixture.fernet_key)
    for part in COMPARED:
        assert after[part] == before[part], part
    assert set(map(tuple, before["tries"])) <= set(map(tuple, after["tries"]))
    assert _missing_tries(after) == []
    retried = [t for t in after["tries"] if t[1] in ("flaky_then_ok", "always_fail")]
    # The failed first tries: "failed" as Airflow before 3.4 recorded them (history rows,
    # task_fail), "up_for_retry" as 3.4 archives the attempt it retries itself.
    failed = "up_for_retry" if source == AIRFLOW_3_4 else "failed"
    assert len(retried) == 2 and all(t[4] == 1 and t[5] == failed for t in retried), retried
    assert after["xcoms"] and after["variables"] and after["connections"]

    verified = _ok(airshift("verify", upgraded, tgt.url, *with_keys))
    assert verified["ok"], verified
