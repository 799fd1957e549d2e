"""Generated DAGs as a real Airflow 3 DagBag sees them, checked against what each
definition means: task kinds, edges, schedules, retries and rendered templates."""

from __future__ import annotations

import ast
import itertools
import subprocess
import sys
from pathlib import Path

import pytest
from dp_cases import EXPRESSIONS, SCHEDULES

from airshift.datapipeline import convert_file

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
BASH = "airflow.providers.standard.operators.bash.BashOperator"
ADD_STEPS = "airflow.providers.amazon.aws.operators.emr.EmrAddStepsOperator"
STEP_SENSOR = "airflow.providers.amazon.aws.sensors.emr.EmrStepSensor"
S3_KEY_SENSOR = "airflow.providers.amazon.aws.sensors.s3.S3KeySensor"
SQL = "airflow.providers.common.sql.operators.sql.SQLExecuteQueryOperator"


def ancestors(dag: dict, task_id: str) -> set[str]:
    seen: set[str] = set()
    stack = list(dag["tasks"][task_id]["upstream"])
    while stack:
        current = stack.pop()
        if current not in seen:
            seen.add(current)
            stack += dag["tasks"][current]["upstream"]
    return seen


def test_every_generated_dag_imports_without_errors(dagbag, converted):
    assert dagbag["import_errors"] == {}
    assert set(converted) <= set(dagbag["dags"])


def test_generated_code_is_ruff_clean(dags_dir):
    ruff = [sys.executable, "-m", "ruff"]
    config = ["--config", str(REPO / "pyproject.toml")]
    check = subprocess.run([*ruff, "check", *config, str(dags_dir)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout
    fmt = subprocess.run(
        [*ruff, "format", "--check", *config, str(dags_dir)], capture_output=True, text=True
    )
    assert fmt.returncode == 0, fmt.stdout


def test_generated_dags_import_only_airflow_and_standard_modules(converted):
    allowed = ("airflow.", "pendulum", "datetime", "dateutil", "csv", "os", "shlex", "__future__")
    for result in {id(r): r for r in converted.values()}.values():
        for dag in result.dags:
            for node in ast.walk(ast.parse(dag.code)):
                if isinstance(node, ast.ImportFrom):
                    assert node.module.startswith(allowed), (dag.dag_id, node.module)
                elif isinstance(node, ast.Import):
                    assert all(a.name.startswith(allowed) for a in node.names), dag.dag_id


def test_every_report_todo_is_also_a_comment_in_the_code(converted):
    for result in {id(r): r for r in converted.values()}.values():
        code = "\n".join(d.code for d in result.dags)
        comments = [line.strip() for line in code.splitlines() if "# TODO(airshift):" in line]
        for object_id, message in result.todos:
            text = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in message)
            assert any(text in comment for comment in comments), (result.source, object_id, text)


def test_conversion_is_deterministic():
    path = REPO / "tests/datapipeline/definitions/everything.json"
    first, second = convert_file(path), convert_file(path)
    assert [d.code for d in first.dags] == [d.code for d in second.dags]
    assert first.to_json() == second.to_json()


# -- the kitchen-sink definition -----------------------------------------------------------


def test_everything_operators_per_object_type(dagbag):
    tasks = dagbag["dags"]["everything"]["tasks"]
    expected = {
        "Extract": BASH,
        "CopyOrders": "airflow.providers.amazon.aws.transfers.sql_to_s3.SqlToS3Operator",
        "LoadFacts": "airflow.providers.amazon.aws.transfers.s3_to_redshift.S3ToRedshiftOperator",
        "LoadFacts__create_table": SQL,
        "Summarise": SQL,
        "HiveJob": ADD_STEPS,
        "HiveJob__wait": STEP_SENSOR,
        "PigJob": ADD_STEPS,
        "HadoopJob": ADD_STEPS,
        "EmrJob": ADD_STEPS,
        "HiveCopy": ADD_STEPS,
        "Unload": "airflow.providers.amazon.aws.transfers.redshift_to_s3.RedshiftToS3Operator",
        "DdbToRedshift": SQL,
        "LegacyCopy": "airflow.providers.amazon.aws.transfers.s3_to_sql.S3ToSqlOperator",
        "OnPrem": BASH,
        "Archive": "airflow.providers.amazon.aws.operators.s3.S3CopyPrefixOperator",
        "CopyMarker": "airflow.providers.amazon.aws.operators.s3.S3CopyObjectOperator",
        "ExportLedger": "airflow.providers.amazon.aws.transfers.sql_to_s3.SqlToS3Operator",
        "LedgerExists__Ledger": "airflow.providers.common.sql.sensors.sql.SqlSensor",
        "create_Emr": "airflow.providers.amazon.aws.operators.emr.EmrCreateJobFlowOperator",
        "terminate_Emr": "airflow.providers.amazon.aws.operators.emr.EmrTerminateJobFlowOperator",
        "ShellCheck__Extract": "airflow.providers.standard.sensors.bash.BashSensor",
        "RawReady__RawLogs": S3_KEY_SENSOR,
        "MarkerExists__Marker": S3_KEY_SENSOR,
        "KeyThere__LegacyCopy": S3_KEY_SENSOR,
        "TableThere__Summarise": "airflow.providers.standard.sensors.python.PythonSensor",
        "EventsHaveData__Events": "airflow.providers.standard.sensors.python.PythonSensor",
    }
    assert {t: tasks[t]["operator"] for t in expected} == expected
    assert tasks["Extract"]["display_name"] == "Extract raw logs"
    assert tasks["create_Emr"]["display_name"] == "Shared EMR (create)"


def test_everything_dependencies_from_all_three_sources(dagbag):
    dag = dagbag["dags"]["everything"]
    tasks = dag["tasks"]
    # dependsOn fan-out: Extract -> CopyOrders, and (through the cluster) HiveJob
    assert "Extract" in tasks["CopyOrders"]["upstream"]
    assert "Extract" in ancestors(dag, "HiveJob")
    # dependsOn fan-in: Summarise waits for LoadFacts and CopyOrders, plus its precondition
    assert set(tasks["Summarise"]["upstream"]) == {
        "LoadFacts",
        "CopyOrders",
        "TableThere__Summarise",
    }
    # data-node chaining only: LoadFacts reads CleanLogs, which Extract writes
    assert "Extract" in ancestors(dag, "LoadFacts")
    # Unload reads Warehouse, written by LoadFacts and DdbToRedshift
    assert {"LoadFacts", "DdbToRedshift"} <= set(tasks["Unload"]["upstream"])
    # preconditions on the activity and on its input node
    assert {"ShellCheck__Extract", "RawReady__RawLogs"} == set(tasks["Extract"]["upstream"])
    assert tasks["CheckMarker"]["upstream"] == ["MarkerExists__Marker"]
    assert "EventsHaveData__Events" in ancestors(dag, "HiveCopy")
    assert "EventsHaveData__Events" in tasks["DdbToRedshift"]["upstream"]
    # EMR: steps wait for their sensor chain; EmrJob fans in from Pig and Hadoop
    assert set(tasks["EmrJob"]["upstream"]) == {"PigJob__wait", "HadoopJob__wait"}
    assert set(tasks["HiveJob__wait"]["downstream"]) == {"PigJob", "HadoopJob"}
    assert tasks["terminate_Emr"]["is_teardown"]
    assert {"EmrJob__wait", "HiveCopy__wait"} <= ancestors(dag, "terminate_Emr")
    assert "create_Emr" in ancestors(dag, "HiveJob")
    # independent activity stays independent
    assert tasks["OnPrem"]["upstream"] == [] and tasks["OnPrem"]["downstream"] == []


def test_everything_retries_timeouts_and_alarms(dagbag):
    dag = dagbag["dags"]["everything"]
    tasks = dag["tasks"]
    assert dag["max_active_runs"] == 3  # Default.maxActiveInstances
    extract = tasks["Extract"]
    assert (extract["retries"], extract["retry_delay"], extract["execution_timeout"]) == (
        2,
        600.0,
        3600.0,
    )
    assert tasks["OnPrem"]["retries"] == 4  # own value beats Default
    assert tasks["OnPrem"]["max_active_tis_per_dag"] == 2
    assert tasks["OnPrem"]["queue"] == "onprem-group"
    check = tasks["ShellCheck__Extract"]
    assert (check["mode"], check["timeout"], check["retries"]) == ("reschedule", 1800.0, 1)
    assert tasks["RawReady__RawLogs"]["timeout"] == 7200.0
    for sensor in ("RawReady__RawLogs", "MarkerExists__Marker", "TableThere__Summarise"):
        assert tasks[sensor]["mode"] == "reschedule"
    # onFail on Default reaches every object; onSuccess only where set
    assert [c["class"] for c in extract["on_failure_callback"]] == ["SnsNotifier"]
    [alarm] = extract["rendered_callbacks"]
    assert {k: alarm[k] for k in ("target_arn", "subject", "message")} == {
        "target_arn": "arn:aws:sns:us-east-1:123456789012:alerts",
        "subject": "Failed: Extract raw logs",
        "message": "Window 2025-03-04 01:30 error EXCEPTION",
    }
    assert tasks["Summarise"]["on_success_callback"][0]["fields"]["subject"] == "Done: Summarise"
    assert tasks["Extract"]["on_success_callback"] == []
    # lateAfterTimeout + onLateAction SnsAlarm: a deadline from the run's logical date
    assert dag["deadlines"] == [
        {
            "reference": "DagRunLogicalDateDeadline",
            "interval": 7200.0,
            "callback": "airflow.providers.amazon.aws.notifications.sns.SnsNotifier",
            "kwargs": {
                "target_arn": "arn:aws:sns:us-east-1:123456789012:late",
                "subject": "Late: Extract raw logs",
                "message": "Extract raw logs is late ({{ params.myLateNote }})",
            },
        }
    ]
    assert dag["params"]["myLateNote"] == "late!"  # a parameter only the deadline uses
    assert dag["dagrun_timeout"] == 7200.0  # onLateAction Terminate, the nearest setting


def test_everything_rendered_templates(dagbag):
    dag = dagbag["dags"]["everything"]
    assert dag["run"] == {
        "logical_date": "2025-03-04T01:30:00+00:00",
        "start": "2025-03-04T01:30:00+00:00",
        "end": "2025-03-04T03:30:00+00:00",
    }
    tasks = dag["tasks"]
    extract = tasks["Extract"]["rendered"]
    assert (
        "process.sh --bucket s3://bucket-from-parent --day 2025-03-04 --prev 2025-03-03 "
        "--end 2025-03-04T03:30:00" in extract["bash_command"]
    )
    assert extract["env"] == {
        "DP_ARG_1": "10",
        "DP_ARG_2": "literal arg",
        "DP_INPUT1_URI": "s3://raw/2025-03-04/01/",
        "DP_OUTPUT1_URI": "s3://clean/2025-03-04-02/",
    }
    load = tasks["LoadFacts"]["rendered"]
    assert (load["s3_bucket"], load["s3_key"], load["table"], load["schema"], load["method"]) == (
        "clean",
        "2025-03-04-02/",
        "facts",
        "analytics",
        "REPLACE",
    )
    assert tasks["LoadFacts__create_table"]["rendered"]["sql"] == (
        "create table if not exists analytics.facts (id int)"
    )
    copy = tasks["CopyOrders"]["rendered"]
    assert copy["query"] == "select * from orders where day = '2025-03-04'"
    assert (copy["s3_bucket"], copy["s3_key"]) == ("exports", "orders/2025/03/04/orders.csv")
    assert tasks["Summarise"]["rendered"]["parameters"] == ["10"]
    assert (
        tasks["KeyThere__LegacyCopy"]["rendered"]["bucket_key"] == "s3://b/legacy/ready"
    )  # values win
    assert tasks["RawReady__RawLogs"]["rendered"]["bucket_key"] == "s3://raw/2025-03-04/01/*"
    hadoop = tasks["HadoopJob"]["rendered"]["steps"][0]["HadoopJarStep"]
    assert hadoop == {
        "Jar": "s3://jars/wc.jar",
        "MainClass": "org.example.WordCount",
        "Args": ["-Dmapreduce.job.queuename=etl", "s3://in", "s3://out/2025-03-04"],
    }
    emr_steps = tasks["EmrJob"]["rendered"]["steps"]
    assert [s["HadoopJarStep"]["Args"] for s in emr_steps] == [
        ["bash", "-c", "echo pre"],
        ["spark-submit", "--conf", "spark.x=a,b", "s3://jobs/app.py", "2025-03-04"],
        ["run"],
    ]
    assert [s["ActionOnFailure"] for s in emr_steps] == [
        "CANCEL_AND_WAIT",
        "CANCEL_AND_WAIT",
        "CONTINUE",
    ]
    assert tasks["HiveJob__wait"]["rendered"]["step_id"] == "xcom:HiveJob[-1]"
    overrides = tasks["create_Emr"]["rendered"]["job_flow_overrides"]
    assert overrides["ReleaseLabel"] == "emr-6.15.0"
    assert overrides["BootstrapActions"][0]["ScriptBootstrapAction"] == {
        "Path": "s3://b/boot.sh",
        "Args": ["arg1", "arg,with,commas"],
    }
    assert overrides["Configurations"] == [
        {"Classification": "hive-site", "Properties": {"hive.exec.parallel": "true"}}
    ]
    archive = tasks["Archive"]["rendered"]
    assert (archive["source_bucket_name"], archive["source_bucket_prefix"]) == (
        "clean",
        "2025-03-04-02/",
    )
    assert (archive["dest_bucket_name"], archive["dest_bucket_prefix"]) == ("archive", "2025/")
    assert tasks["CopyMarker"]["rendered"]["source_bucket_key"] == "s3://markers/20250304.done"
    assert tasks["CopyMarker"]["upstream"] == ["MarkerExists__Marker"]  # the node's precondition
    assert tasks["ExportLedger"]["rendered"]["query"] == "SELECT * FROM o'neil"
    assert tasks["LedgerExists__Ledger"]["rendered"]["sql"] == (
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 'o''neil'"
    )
    assert tasks["DdbToRedshift"]["rendered"]["sql"] == [
        "COPY analytics.facts FROM 'dynamodb://events' IAM_ROLE 'var:redshift_copy_iam_role' READRATIO 50;"
    ]


def test_everything_report_lists_connections_without_secrets(converted):
    report = converted["everything"]
    data = report.to_json()
    connections = {c["conn_id"]: c for c in data["connections"]}
    assert connections["shopdb"]["conn_type"] == "postgres"
    assert connections["dw"]["conn_type"] == "redshift"
    assert connections["dw"]["extra"]["cluster_identifier"] == "warehouse"
    assert "secret-in-file" not in str(data) and "secret-in-file" not in report.dags[0].code
    assert "secret-in-file" not in report.to_markdown()
    todo_objects = {t["object"] for t in data["todos"]}
    assert {"OnPrem", "DdbToRedshift"} <= todo_objects  # queue, iam
    assert "HiveCopy" not in todo_objects  # its tables are generated now
    assert data["minimum_versions"]["apache-airflow-providers-amazon"] == "9.32.0"  # S3CopyPrefix
    assert data["minimum_versions"]["apache-airflow"] == "3.1.0"  # DeadlineAlert
    by_id = {o["id"]: o for o in data["objects"]}
    assert by_id["Emr"]["tasks"] == ["everything.create_Emr", "everything.terminate_Emr"]
    assert by_id["ShopDb"]["connections"] == ["shopdb"]


def test_ec2_ssm_strategy_launches_runs_and_terminates_the_instance(dagbag):
    dag = dagbag["dags"]["everything_ssm"]
    tasks = dag["tasks"]
    ec2 = "airflow.providers.amazon.aws.operators.ec2."
    assert tasks["create_Ec2"]["operator"] == ec2 + "EC2CreateInstanceOperator"
    assert tasks["terminate_Ec2"]["operator"] == ec2 + "EC2TerminateInstanceOperator"
    assert tasks["terminate_Ec2"]["is_teardown"]
    for shell in ("Extract", "CheckMarker"):
        assert tasks[shell]["operator"].endswith("ssm.SsmRunCommandOperator")
        assert "create_Ec2" in ancestors(dag, shell)
        assert shell in ancestors(dag, "terminate_Ec2")
    assert tasks["OnPrem"]["operator"] == BASH  # a worker group, not an Ec2Resource
    # the instance is launched only once the first activity's preconditions passed
    assert {"ShellCheck__Extract", "RawReady__RawLogs"} <= set(tasks["create_Ec2"]["upstream"])
    create = tasks["create_Ec2"]["rendered"]
    assert create["config"] == {
        "InstanceType": "m5.large",
        "IamInstanceProfile": {"Name": "DataPipelineDefaultResourceRole"},
    }
    kwargs = tasks["Extract"]["rendered"]["run_command_kwargs"]
    assert kwargs["InstanceIds"] == "xcom:create_Ec2"
    assert kwargs["Parameters"]["executionTimeout"] == ["3600"]  # attemptTimeout
    [script] = kwargs["Parameters"]["commands"]
    lines = script.split("\n")
    assert lines[:4] == [
        "export DP_ARG_1=10",
        "export DP_ARG_2='literal arg'",
        "export DP_INPUT1_URI=s3://raw/2025-03-04/01/",
        "export DP_OUTPUT1_URI=s3://clean/2025-03-04-02/",
    ]
    assert "process.sh --bucket s3://bucket-from-parent --day 2025-03-04" in script
    assert lines[-1] == 'bash "$dp_run"'


# -- public samples ------------------------------------------------------------------------


def test_billing_depends_through_a_data_node_only(dagbag):
    dag = dagbag["dags"]["billing_template"]
    assert dag["timetable"] == "CronTriggerTimetable" and dag["expression"] == "0 0 * * *"
    assert "ZipFormatConversionActivity" in ancestors(dag, "RedshiftLoadActivity")
    assert {"ZipFormatConversionActivity", "RedshiftLoadActivity"} <= ancestors(
        dag, "S3StagingCleanupActivity"
    )
    rendered = dag["tasks"]["S3StagingCleanupActivity"]["rendered"]["bash_command"]
    assert (
        rendered
        == "(sudo yum -y update aws-cli) && (aws s3 rm s3://stage/x/2025-03-04-00-00-00 --recursive)"
    )
    zip_task = dag["tasks"]["ZipFormatConversionActivity"]["rendered"]
    assert "*aws-billing-detailed-line-items-2025-03.csv.zip" in zip_task["bash_command"]
    assert zip_task["env"]["DP_INPUT1_URI"] == "s3://in/bill/"
    load = dag["tasks"]["RedshiftLoadActivity"]["rendered"]
    assert (load["method"], load["s3_bucket"], load["s3_key"]) == (
        "UPSERT",
        "stage",
        "x/2025-03-04-00-00-00",
    )


def test_efs_backup_fan_out_and_fan_in(dagbag):
    tasks = dagbag["dags"]["3_Node_EFSBackupPipeline"]["tasks"]
    parts = ["BackupPart1", "BackupPart2", "BackupPart3"]
    assert tasks["InitBackup"]["downstream"] == parts
    assert tasks["FinalizeBackup"]["upstream"] == parts
    assert all(tasks[p]["upstream"] == ["InitBackup"] for p in parts)


def test_s3_key_exists_preconditions_guard_each_load(dagbag):
    tasks = dagbag["dags"]["S3TsvFilesToRedshiftTablesIfReady"]["tasks"]
    for n in ("1", "2"):
        sensor = tasks[f"PreconditionId_{n}__RedshiftLoadActivity_{n}"]
        assert sensor["operator"] == S3_KEY_SENSOR and sensor["mode"] == "reschedule"
        assert sensor["rendered"]["bucket_key"] == (
            "s3://tsv/one.tsv" if n == "1" else "s3://tsv/two.tsv"
        )
        load = tasks[f"RedshiftLoadActivity_{n}"]
        assert load["upstream"] == [f"PreconditionId_{n}__RedshiftLoadActivity_{n}"]
        assert load["rendered"]["copy_options"] == ["DELIMITER '\\t'"]  # from the TSV data format


def test_api_form_sample_keeps_password_out_of_the_dag(dagbag, converted):
    dag = dagbag["dags"]["RDStoRedshiftSqoop_setup"]
    assert dag["timetable"] == "OnceTimetable"
    steps = dag["tasks"]["ActivityId_6vvjv"]["rendered"]["steps"]
    assert [s["HadoopJarStep"]["Jar"] for s in steps] == [
        "s3://elasticmapreduce/libs/script-runner/script-runner.jar"
    ] * 2
    assert steps[1]["HadoopJarStep"]["Args"][:3] == [
        "s3://data-pipeline-samples/sqoop-activity/run_sqoop_job.sh",
        "export",
        "",
    ]
    assert steps[0]["HadoopJarStep"]["Args"][-1] == "var:myRdsDbPassword"
    code = converted["RDStoRedshiftSqoop_setup"].dags[0].code
    assert "Dplcustomer1" not in code


def test_terasort_chain_runs_on_one_cluster_with_teardown(dagbag):
    dag = dagbag["dags"]["TeraSortHadoopBenchmark"]
    tasks = dag["tasks"]
    assert ancestors(dag, "ProcessJHIST") >= {
        "TeraGen_10GB__wait",
        "TeraSort__wait",
        "TeraValidate__wait",
    }
    assert tasks["TeraGen_10GB"]["upstream"] == ["create_EmrCluster"]
    assert tasks["terminate_EmrCluster"]["is_teardown"]
    assert "ProcessJHIST__wait" in tasks["terminate_EmrCluster"]["upstream"]
    assert tasks["TeraGen_10GB"]["rendered"]["job_flow_id"] == "xcom:create_EmrCluster"
    assert dag["params"]["myPathToTerasortResults"] == "s3://aravind-terasort/test-results"


def test_sql_activity_timeout_and_script_uri(dagbag):
    task = dagbag["dags"]["SQLActivityWithTimeout"]["tasks"]["ActivityId_wRpKi"]
    assert task["operator"] == SQL
    assert task["execution_timeout"] == 3600.0
    assert (
        task["fields"]["sql"]
        == "{{ s3_text('s3://data-pipeline-samples/sqlactivity/script.sql') }}"
    )
    assert task["fields"]["conn_id"] == "databaseid_razmm"


def test_ondemand_samples(dagbag):
    for dag_id in ("ondemand", "SparkPi_maximizeResource"):
        dag = dagbag["dags"][dag_id]
        assert (dag["timetable"], dag["max_active_runs"]) == ("NullTimetable", 1)
    spark = dagbag["dags"]["SparkPi_maximizeResource"]["tasks"]["create_EmrClusterId_mD6dg"]
    assert spark["fields"]["job_flow_overrides"]["Configurations"] == [
        {"Classification": "spark", "Properties": {"maximizeResourceAllocation": "true"}}
    ]


def test_oracle_sample_with_separate_parameter_and_value_files(dagbag):
    dag = dagbag["dags"]["oracle_backup"]
    task = dag["tasks"]["BackupTable"]["rendered"]
    # directoryPath '.../#{day(@scheduledStartTime)}/': one file in that folder, not a key
    # named like the folder
    assert (task["s3_bucket"], task["s3_key"]) == ("backups", "ora/4/BackupTable.csv")
    assert task["sql_conn_id"] == "oracledatabase"
    attributes = dag["tasks"]["BackupTable"]["attributes"]
    assert attributes["df_kwargs"] == {"index": False, "header": False}  # CSV records only


def test_redshift_to_rds_chain(dagbag, converted):
    dag = dagbag["dags"]["RedshiftToRDS_withTableCreate"]
    tasks = dag["tasks"]
    operators = {t: v["operator"].rsplit(".", 1)[1] for t, v in tasks.items()}
    assert operators == {
        "RedshiftToS3": "RedshiftToS3Operator",
        "CreateTableActivity": "SQLExecuteQueryOperator",
        "S3ToRdsCopyActivity": "PythonOperator",  # every file of the folder (one key: S3ToSql)
        "S3CleanupActivity": "BashOperator",
    }
    chain = ["RedshiftToS3", "CreateTableActivity", "S3ToRdsCopyActivity", "S3CleanupActivity"]
    for up, down in itertools.pairwise(chain):
        assert tasks[down]["upstream"] == [up]
    unload = tasks["RedshiftToS3"]["rendered"]
    assert (unload["s3_bucket"], unload["s3_key"]) == ("tmp", "out/2025-01-01-00-00-00/")
    # the files go into that folder (not '<folder>/songs_'), as CSV the copy reads back,
    # replacing those of an earlier attempt (insertMode TRUNCATE)
    assert tasks["RedshiftToS3"]["attributes"] == {
        "table_as_file_name": False,
        "unload_options": ["CSV", "ALLOWOVERWRITE"],
    }
    copy = tasks["S3ToRdsCopyActivity"]["rendered"]["op_kwargs"]
    assert copy == {
        "bucket": "tmp",
        "folder": "out/2025-01-01-00-00-00/",
        "table": "songs",
        "conn_id": "rdsdatabase",
    }
    result = converted["RedshiftToRDS_withTableCreate"]
    assert any("insertQuery" in m for _, m in result.todos)


def test_parallel_hadoop_activities_on_a_fair_scheduler_cluster(dagbag):
    tasks = dagbag["dags"]["hadoop_activity_world_count_fair"]["tasks"]
    create = tasks["create_EmrClusterId_pmtY0"]
    assert create["downstream"] == [
        "HadoopActivity_1",
        "HadoopActivity_2",
        "terminate_EmrClusterId_pmtY0",
    ]
    assert create["rendered"]["job_flow_overrides"]["Configurations"] == [
        {
            "Classification": "yarn-site",
            "Properties": {
                "yarn.resourcemanager.scheduler.class": (
                    "org.apache.hadoop.yarn.server.resourcemanager.scheduler.fair.FairScheduler"
                )
            },
        }
    ]
    args = tasks["HadoopActivity_2"]["rendered"]["steps"][0]["HadoopJarStep"]["Args"]
    assert args[0] == "-Dmapreduce.job.queuename=queue_2"
    assert args[-1] == "s3://wc/2025-01-01T00:00:00"
    assert tasks["HadoopActivity_1"]["retries"] == 0


def test_emr_steps_resolve_node_references_and_region(dagbag):
    tasks = dagbag["dags"]["dynamodb_to_dynamodb"]["tasks"]
    backup = tasks["TableBackupActivity"]["rendered"]
    assert backup["region_name"] == "us-east-1"
    assert backup["steps"][0]["HadoopJarStep"] == {
        "Jar": "s3://dynamodb-emr-us-east-1/emr-ddb-storage-handler/2.1.0/emr-ddb-2.1.0.jar",
        "Args": [
            "org.apache.hadoop.dynamodb.tools.DynamoDbExport",
            "s3://tmp/2025-01-01-00-00-00",
            "src",
            "0.25",
        ],
    }
    assert tasks["TableLoadActivity"]["upstream"] == ["TableBackupActivity__wait"]
    assert tasks["terminate_EmrClusterForBackup"]["rendered"]["region_name"] == "us-east-1"


# -- schedules and expressions ---------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_schedule_semantics(dagbag, name):
    expected = SCHEDULES[name][2]
    dag = dagbag["dags"][name]
    assert dag["timetable"] == expected["timetable"]
    assert dag["catchup"] is False
    for key in ("expression", "delta", "start_date", "end_date", "max_active_runs"):
        if key in expected:
            assert dag[key] == expected[key], key
    if "times" in expected:
        assert dag["tasks"]["Work"]["rendered"]["bash_command"] == expected["times"]


def test_expressions_render_like_data_pipeline(dagbag):
    tasks = dagbag["dags"]["expressions"]["tasks"]
    rendered = tasks["Work"]["rendered"]["bash_command"]
    assert rendered.split("\n") == [expected for _, expected in EXPRESSIONS]
    # node. in a precondition is the guarded activity
    assert tasks["Ready__Work"]["rendered"]["bucket_key"] == "s3://in/2025/03/04/_SUCCESS"
