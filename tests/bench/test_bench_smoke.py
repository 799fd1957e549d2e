"""A tiny-size run of the benchmark, so that the slow real run cannot rot unnoticed.

Why: the benchmark (bench/run.py) is too slow for CI, but its generator, its baselines and
its airshift invocations must keep working as airshift changes. This runs the generator on
a copy of the real Airflow 2.10.5 fixture at 200 runs, checks that the scaled database is
what a real Airflow would accept (every constraint was enforced on insert; run ids and
logical dates unique), and runs the floor, AWS-sample and same-version airshift steps.
"""

from __future__ import annotations

import json

import psycopg
import pytest

from airshift import db
from bench import generate, run
from tests.realairflow import build

pytestmark = pytest.mark.slow


def test_generator_scales_real_database_validly() -> None:
    name = "bench_smoke_gen"
    fx = build.get_fixture("2.10.5", "postgresql")
    url = build.clone(fx, name).replace("postgresql+psycopg://", "postgresql://")
    try:
        base = generate.counts(url)
        counts = generate.scale(url, 200, log=lambda m: None)
        assert counts["dag_run"] == 200
        ratio = counts["task_instance"] / base["task_instance"]
        assert ratio > 15  # task instances (and the rest) grow with the runs
        for table in ("xcom", "log", "job", "task_fail", "rendered_task_instance_fields"):
            assert counts[table] > base[table]
        with psycopg.connect(url) as conn:
            dup = conn.execute(
                "SELECT count(*) FROM (SELECT dag_id, execution_date FROM dag_run "
                "GROUP BY 1, 2 HAVING count(*) > 1) d"
            ).fetchone()[0]
            orphans = conn.execute(
                "SELECT count(*) FROM xcom x LEFT JOIN dag_run r ON r.id = x.dag_run_id "
                "AND r.run_id = x.run_id WHERE r.id IS NULL"
            ).fetchone()[0]
        assert (dup, orphans) == (0, 0)
        # Deterministic: scaling another copy gives the same counts.
        other = build.clone(fx, name + "2").replace("postgresql+psycopg://", "postgresql://")
        assert generate.scale(other, 200, log=lambda m: None) == counts
    finally:
        db.drop_database(build.PG_SERVER, name)
        db.drop_database(build.PG_SERVER, name + "2")


def test_benchmark_runs_at_tiny_size(tmp_path, capsys) -> None:
    out = tmp_path / "results.json"
    run.main(["--size", "tiny", "--steps", "floor,aws,same", "--timeout", "120", "--out", str(out)])
    data = json.loads(out.read_text())
    names = [r["name"] for r in data["results"]]
    assert any(n.startswith("floor export") for n in names)
    assert any(n.startswith("aws-sample load") for n in names)
    assert any(n.startswith("airshift import (same version") for n in names)
    assert all(r["seconds"] > 0 and r["rows"] > 0 for r in data["results"])
    assert "| tiny |" in capsys.readouterr().out
