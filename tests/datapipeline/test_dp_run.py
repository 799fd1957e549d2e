"""Converted DAGs executed with ``airflow dags test`` on a real Airflow 3 against moto.

Shell activities really run (the AWS CLI stages S3 data through the moto server), S3
copies and sensors call moto, SNS alarms publish to a moto topic that an SQS queue
listens to, and a CopyActivity loads the real PostgreSQL server. The assertions are the
side effects: objects written at the paths a logical date renders to, rows loaded,
alarms sent on failure and not on success.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from run_support import client, connection_uri, scratch_database, task_env

from airshift import db
from airshift.datapipeline import convert_file, write_result
from airshift.datapipeline.verify import AirflowCheck

pytestmark = pytest.mark.slow
HERE = Path(__file__).parent
RUNNABLE = HERE / "runnable"
TOPIC = "arn:aws:sns:us-east-1:123456789012:dp-alerts"
TRANSFORM = """set -e
tr a-z A-Z < "$INPUT1_STAGING_DIR/in.txt" > "$OUTPUT1_STAGING_DIR/out.txt"
echo "$1 $2" >> "$OUTPUT1_STAGING_DIR/out.txt"
"""


@pytest.fixture(scope="module")
def words_db() -> Iterator[str]:
    with scratch_database("dp_run") as url:
        yield url


@pytest.fixture(scope="module")
def runner(moto_server: str, words_db: str, airflow, tmp_path_factory) -> AirflowCheck:
    """One scratch Airflow home whose tasks reach moto and the test's PostgreSQL database."""
    env = {
        **task_env(moto_server),
        "AIRFLOW_CONN_WORDSDB": connection_uri(words_db),
    }
    return AirflowCheck(tmp_path_factory.mktemp("dp_run_home"), airflow.version, env=env)


@pytest.fixture(scope="module")
def run_dags(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dp_run_dags")
    for path in sorted(RUNNABLE.glob("*.json")):
        write_result(convert_file(path), out)
    broken = tmp_path_factory.mktemp("dp_values") / "values.json"
    broken.write_text(json.dumps({"values": {"myCreateSql": "CREATE TABLE nope.words (w text)"}}))
    write_result(
        convert_file(RUNNABLE / "load_words.json", values=broken, dag_id="load_words_broken"), out
    )
    return out


@pytest.fixture
def alarms(moto_server: str):
    """A fresh SQS queue subscribed to the alarm topic; call it to read what arrived."""
    sns, sqs = client("sns", moto_server), client("sqs", moto_server)
    sns.create_topic(Name="dp-alerts")
    queue = sqs.create_queue(QueueName=f"alarms-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]
    sns.subscribe(TopicArn=TOPIC, Protocol="sqs", Endpoint=arn["QueueArn"])

    def received() -> list[tuple[str, str]]:
        got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        bodies = [json.loads(m["Body"]) for m in got.get("Messages", [])]
        return sorted((b.get("Subject", ""), b["Message"]) for b in bodies)

    return received


def test_shell_staging_copy_and_sensor_run_against_moto(runner, run_dags, moto_server, alarms):
    s3 = client("s3", moto_server)
    s3.create_bucket(Bucket="dp-run")
    s3.put_object(Bucket="dp-run", Key="raw/2025-03-04/in.txt", Body=b"hello\nworld\n")
    s3.put_object(Bucket="dp-run", Key="scripts/transform.sh", Body=TRANSFORM.encode())
    check = runner.run(
        run_dags / "daily_transform.py", "daily_transform", "2025-03-04T00:00:00+00:00"
    )
    assert check.ok, check.detail
    assert check.tasks == {
        "RawReady__RawLogs": "success",
        "Transform": "success",
        "Archive": "success",
    }
    # the script ran from S3 (scriptUri ending in .sh), staged input and output for that date
    expected = "HELLO\nWORLD\ns3://dp-run/scripts/helper.sh 2025-03-04\n"
    out = s3.get_object(Bucket="dp-run", Key="clean/2025-03-04/out.txt")["Body"].read().decode()
    assert out == expected
    archived = s3.get_object(Bucket="dp-run", Key="archive/2025/03/04.txt")["Body"].read()
    assert archived.decode() == expected
    assert alarms() == [("Done: Archive", "Archive loaded")]  # onSuccess, and no failure


def test_copy_into_postgres_creates_the_table_and_loads_rows(
    runner, run_dags, moto_server, words_db, alarms
):
    s3 = client("s3", moto_server)
    s3.create_bucket(Bucket="dp-run")
    s3.put_object(Bucket="dp-run", Key="words.csv", Body=b"alpha,1\nbeta,2\n")
    check = runner.run(run_dags / "load_words.py", "load_words", "2025-03-04T00:00:00+00:00")
    assert check.ok, check.detail
    assert check.tasks == {"LoadWords__create_table": "success", "LoadWords": "success"}
    with db.engine_for(words_db).connect() as conn:
        rows = conn.exec_driver_sql("SELECT word, n FROM words ORDER BY n").fetchall()
    assert [tuple(r) for r in rows] == [("alpha", 1), ("beta", 2)]
    assert alarms() == [("Done: Load words", "Load words loaded")]


def test_failed_create_table_fires_the_activity_alarm(runner, run_dags, moto_server, alarms):
    """DP: a failed createTableSql is a failed activity, so its onFail alarm is sent."""
    s3 = client("s3", moto_server)
    s3.create_bucket(Bucket="dp-run")
    s3.put_object(Bucket="dp-run", Key="words.csv", Body=b"alpha,1\n")
    check = runner.run(
        run_dags / "load_words_broken.py", "load_words_broken", "2025-03-04T00:00:00+00:00"
    )
    assert check.run_state == "failed"
    assert check.tasks == {"LoadWords__create_table": "failed", "LoadWords": "upstream_failed"}
    [(subject, message)] = alarms()
    assert subject == "Failed: Load words"
    assert message.startswith("Load words: ") and "nope" in message  # the real error
    # why it failed is the failing task's own log, in the detail and in the report
    first, *_ = check.detail.splitlines()
    assert first.startswith("task LoadWords__create_table failed: ") and "nope" in first
    assert "CREATE TABLE nope.words" in check.detail  # the log shows the SQL it ran
    assert "not run because an upstream task failed: LoadWords" in check.detail
    result = convert_file(RUNNABLE / "load_words.json", dag_id="load_words_broken")
    result.dags[0].verification = check
    report = result.to_markdown()
    assert "## Why the check of `load_words_broken` failed" in report
    assert first in report
