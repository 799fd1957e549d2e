"""S3 and CloudWatch Logs, against moto in server mode on loopback."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import boto3
import pytest

from airshift.logs import Naming, iter_tries, open_tables
from tests.conftest import Aws

from .conftest import AirflowHome, cli
from .test_real_airflow import _keys, _markers_found

pytestmark = pytest.mark.slow

GROUP = "airflow-airshift-test-Task"


def _streams(group: str) -> list[str]:
    pages = boto3.client("logs").get_paginator("describe_log_streams").paginate(logGroupName=group)
    return sorted(s["logStreamName"] for p in pages for s in p["logStreams"])


def test_s3_and_cloudwatch_round_trip_is_read_by_airflow(
    af3: AirflowHome, aws: Aws, throttling_proxy, tmp_path: Path
) -> None:
    boto3.client("s3").create_bucket(Bucket="airshift-logs")
    meta = ["--metadata", af3.db_url, "--json"]
    via_proxy = aws.env | {"AWS_ENDPOINT_URL": throttling_proxy.url}
    group = f"{GROUP}-roundtrip"

    def copy(src: str, dst: str, env=aws.env) -> dict:
        proc = cli("logs", "copy", src, dst, *meta, env=env)
        assert proc.returncode == 0, proc.stderr + proc.stdout
        return json.loads(proc.stdout)

    assert copy(str(af3.logs), "s3://airshift-logs/task-logs")["counts"] == {"copied": 5}
    assert copy("s3://airshift-logs/task-logs", f"cloudwatch://{group}", via_proxy)["counts"] == {
        "copied": 5
    }
    tries = list(iter_tries(open_tables(af3.db_url)))
    names = sorted(Naming(airflow_major=3).relpath(t).replace(":", "_") for t in tries)
    assert _streams(group) == names  # MWAA's stream names: no ':'
    back = tmp_path / "back"
    assert copy(f"cloudwatch://{group}", str(back), via_proxy)["counts"] == {"copied": 5}
    for path in af3.logs.rglob("*.log"):
        assert (back / path.relative_to(af3.logs)).read_bytes() == path.read_bytes()
    # Resumable on every backend: a second run finds everything in place.
    assert copy(str(af3.logs), f"cloudwatch://{group}", via_proxy)["counts"] == {"skipped": 5}
    assert throttling_proxy.throttled > 0
    logs = af3.read_logs(_keys(tries), back)
    assert all(_markers_found(logs, tries).values()), logs


def _long_log(lines: int) -> bytes:
    """Airflow 2 style lines (about 100 bytes each) with blank lines in between."""
    out = []
    for i in range(lines):
        out.append(
            f"[2024-01-01T00:{i // 600 % 60:02d}:{i // 10 % 60:02d}.000+0000] {{demo.py:1}} "
            f"INFO - line {i:06d} " + "x" * 40
        )
        if i % 1000 == 0:
            out.append("")
    return ("\n".join(out) + "\n").encode()


def test_cloudwatch_streams_beyond_one_page_and_1mb(
    af3: AirflowHome, aws: Aws, throttling_proxy, tmp_path: Path
) -> None:
    """A 25,000-line (2.5 MB) log needs several PutLogEvents batches and GetLogEvents
    pages; throttled calls are retried; the log comes back byte for byte."""
    source = tmp_path / "source"
    shutil.copytree(af3.logs, source)
    big = next(source.rglob("ok/1.log"))
    big.write_bytes(_long_log(25_000))
    assert big.stat().st_size > 2_000_000
    via_proxy = aws.env | {"AWS_ENDPOINT_URL": throttling_proxy.url}
    group = f"{GROUP}-long"
    meta = ["--metadata", af3.db_url, "--json"]
    proc = cli("logs", "copy", str(source), f"cloudwatch://{group}", *meta, env=via_proxy)
    assert proc.returncode == 0, proc.stderr
    puts = throttling_proxy.calls["PutLogEvents"]
    assert puts >= 3 + 4  # the big log needs 3 batches (10,000 events each), 1 per other log
    back = tmp_path / "back"
    proc = cli("logs", "copy", f"cloudwatch://{group}", str(back), *meta, env=via_proxy)
    assert proc.returncode == 0, proc.stderr
    assert throttling_proxy.calls["GetLogEvents"] >= 3 + 4
    assert throttling_proxy.throttled > 0
    assert (back / big.relative_to(source)).read_bytes() == big.read_bytes()


def test_throttling_beyond_retries_fails_per_file(
    af3: AirflowHome, aws: Aws, throttling_proxy, tmp_path: Path
) -> None:
    """With no retries allowed, throttled files fail with a reason; the others are copied."""
    via_proxy = aws.env | {"AWS_ENDPOINT_URL": throttling_proxy.url}
    target = f"cloudwatch://{GROUP}-noretry?max_attempts=1"
    proc = cli(
        "logs",
        "copy",
        str(af3.logs),
        target,
        "--metadata",
        af3.db_url,
        "--jobs",
        "1",
        "--json",
        env=via_proxy,
    )
    report = json.loads(proc.stdout)
    assert proc.returncode == 1
    assert report["counts"]["copied"] >= 1
    errors = [r for r in report["results"] if r["status"] == "error"]
    assert errors and all("ThrottlingException" in r["message"] for r in errors)
