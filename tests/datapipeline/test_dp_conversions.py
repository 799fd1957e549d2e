"""The three conversions that imported but could not run, as a real DagBag renders them.

(1) values ending in a template extension, (2) Hive/Pig staging tables, (3) the alarms
of an activity on every task derived from it. ``test_dp_run.py`` executes the first and
third for real; these check the rendered steps and callbacks.
"""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.slow


def test_every_task_of_an_activity_carries_its_failure_alarm(dagbag):
    tasks = dagbag["dags"]["everything"]["tasks"]
    load, create = tasks["LoadFacts"], tasks["LoadFacts__create_table"]
    assert create["on_failure_callback"] == load["on_failure_callback"] != []
    assert (create["retries"], create["retry_delay"]) == (load["retries"], load["retry_delay"])
    # the EMR sensor fails when the step fails: it alarms too; onSuccess only at the end
    assert tasks["HiveJob__wait"]["on_failure_callback"] == tasks["HiveJob"]["on_failure_callback"]
    summarise = tasks["Summarise"]
    assert summarise["on_success_callback"] and not create["on_success_callback"]


def test_hive_copy_defines_its_tables_from_the_data_nodes(dagbag):
    [step] = dagbag["dags"]["everything"]["tasks"]["HiveCopy"]["rendered"]["steps"]
    hql = step["HadoopJarStep"]["Args"][2]
    assert step["HadoopJarStep"]["Args"][:2] == ["hive", "-e"]
    create_in = (
        "CREATE EXTERNAL TABLE dp_hivecopy_input1 (item map<string,string>) STORED BY "
        "'org.apache.hadoop.hive.dynamodb.DynamoDBStorageHandler' TBLPROPERTIES "
        "('dynamodb.table.name' = 'events', 'dynamodb.throughput.read.percent' = '0.5');"
    )
    create_out = (
        "CREATE EXTERNAL TABLE dp_hivecopy_output1 (item map<string,string>) ROW FORMAT SERDE "
        "'org.apache.hadoop.hive.dynamodb.DynamoDBExportSerDe' LOCATION 's3://backup/events/';"
    )
    insert = (
        "INSERT OVERWRITE TABLE dp_hivecopy_output1 SELECT * FROM dp_hivecopy_input1 "
        "WHERE ts > '2025-03-03';"
    )
    assert hql.index(create_in) < hql.index(create_out) < hql.index(insert)
    assert "${input1}" not in hql and "${output1}" not in hql


def test_pig_staging_loads_and_stores_the_s3_nodes(dagbag, converted):
    dag = next(d for d in dagbag["dags"].values() if "PigActivity1" in d["tasks"])
    [step] = dag["tasks"]["PigActivity1"]["fields"]["steps"]
    args = step["HadoopJarStep"]["Args"]
    assert args[:2] == ["bash", "-c"] and args[3] == "dp-pig"
    load, store = args[4], args[7]
    assert load.startswith("input1 = LOAD '") and "MyRegExLoader(" in load
    assert "AS (First:chararray, Second:chararray" in load
    assert store.startswith("STORE output1 INTO '") and "PigStorage('*')" in store
    assert args[-6:] == ["-p", "three=3", "-p", "input1=input1", "-p", "output1=output1"]


def test_template_file_guard_covers_every_templated_field(dagbag):
    """A .sh/.sql/.json value anywhere in a templated field renders verbatim."""
    rendered = json.dumps(dagbag["dags"]["everything"]["tasks"]["PigJob"]["rendered"])
    assert "s3://scripts/job.pig" in rendered
    assert dagbag["import_errors"] == {}


def test_template_rules_match_the_runtime(airflow, tmp_path):
    """airshift/data/dp_templated.json is what the Airflow the tests run says."""
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    copy = tmp_path / "repo"
    (copy / "airshift" / "datapipeline").mkdir(parents=True)
    (copy / "airshift" / "data").mkdir()
    (copy / "scripts").mkdir()
    for relative in ("scripts/gen_dp_templated.py", "airshift/datapipeline/operators.py"):
        (copy / relative).write_text((repo / relative).read_text())
    airflow.run(["python", str(copy / "scripts" / "gen_dp_templated.py")], home=tmp_path / "h")
    fresh = json.loads((copy / "airshift" / "data" / "dp_templated.json").read_text())
    stored = json.loads((repo / "airshift" / "data" / "dp_templated.json").read_text())
    assert fresh["classes"] == stored["classes"]
