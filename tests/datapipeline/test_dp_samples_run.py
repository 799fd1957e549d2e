"""Every public sample pipeline, converted and executed once with ``airflow dags test``.

The runtime is the real Airflow 3.3.2 with the amazon provider; AWS is a moto server (S3,
EMR) and databases are the local PostgreSQL. A task is marked successful instead of run
(``--mark-success-pattern``) only where moto cannot serve it, and each sample says why:
moto never completes an EMR step (so the step sensors cannot succeed) and has no Redshift
SQL. Everything else runs, and the assertions are side effects: objects at the paths the
logical date renders to, rows in PostgreSQL, EMR clusters created with the definition's
configuration and steps submitted with rendered arguments, then terminated.

Two commands of the samples reach outside (``wget`` of scripts from GitHub that mount EFS
over NFS, and ``sudo yum -y update aws-cli``); stand-ins on ``PATH`` record those calls and
do nothing else, so the commands around them run for real.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import os
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from run_support import client, connection_uri, scratch_database, task_env

from airshift import db
from airshift.datapipeline import convert_file, write_result
from airshift.datapipeline.verify import AirflowCheck, Verification

pytestmark = pytest.mark.slow
SAMPLES = Path(__file__).parent / "samples"
ACTIVATION = dt.datetime(2025, 1, 1)
EMR_STEPS = "moto accepts EMR steps but never completes them, so the step sensors cannot succeed"
REDSHIFT = "moto has no Redshift SQL (COPY/UNLOAD/CREATE on a Redshift connection)"

WGET = """#!/bin/sh
# stand-in: the "downloaded" script only records how it was called
echo "wget $1" >> "$DP_STANDIN_RECORD"
name="${1##*/}"
printf '#!/bin/sh\\necho "%s $*" >> "$DP_STANDIN_RECORD"\\n' "$name" > "$name"
"""
SUDO = """#!/bin/sh
# stand-in: records the privileged command and runs nothing
echo "sudo $*" >> "$DP_STANDIN_RECORD"
"""


@dataclass
class World:
    """What a sample's setup and checks reach: moto, the database, the stand-ins' record."""

    endpoint: str
    database: str
    record: Path
    clusters_before: set[str] = field(default_factory=set)

    def client(self, service: str) -> Any:
        return client(service, self.endpoint)

    def bucket(self, name: str, versioned: bool = False) -> Any:
        s3 = self.client("s3")
        s3.create_bucket(Bucket=name)
        if versioned:
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        return s3

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        found = self.client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix)
        return sorted(o["Key"] for o in found.get("Contents", []))

    def text(self, bucket: str, key: str) -> str:
        return self.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read().decode()

    def sql(self, statement: str) -> list[tuple]:
        with db.engine_for(self.database).begin() as conn:
            result = conn.exec_driver_sql(statement)
            return [tuple(r) for r in result.fetchall()] if result.returns_rows else []

    def recorded(self) -> list[str]:
        return self.record.read_text().splitlines() if self.record.exists() else []

    def new_cluster(self) -> dict[str, Any]:
        """The one EMR cluster this run created: its description, groups, steps, actions."""
        emr = self.client("emr")
        new = [
            c["Id"] for c in emr.list_clusters()["Clusters"] if c["Id"] not in self.clusters_before
        ]
        assert len(new) == 1, new
        cluster = emr.describe_cluster(ClusterId=new[0])["Cluster"]
        steps = emr.list_steps(ClusterId=new[0])["Steps"]
        cluster["steps"] = [
            (s["Name"], s["Config"]["Jar"], s["Config"]["Args"]) for s in steps[::-1]
        ]
        cluster["groups"] = sorted(
            (g["InstanceGroupType"], g["InstanceType"], g["RequestedInstanceCount"])
            for g in emr.list_instance_groups(ClusterId=new[0])["InstanceGroups"]
        )
        cluster["bootstrap"] = [
            (b["ScriptPath"], b["Args"])
            for b in emr.list_bootstrap_actions(ClusterId=new[0])["BootstrapActions"]
        ]
        return cluster


@dataclass(frozen=True)
class Sample:
    """One public sample: how it is converted and run, and what its run must leave behind."""

    source: str  # under samples/
    dag_id: str
    logical_date: str
    check: Callable[[World, Verification], None]
    setup: Callable[[World], None] = lambda world: None
    conf: dict[str, Any] = field(default_factory=dict)
    mark_success: str | None = None  # tasks moto cannot serve ...
    why_marked: str = ""  # ... and why
    options: dict[str, Any] = field(default_factory=dict)


def _terminated_cluster(world: World) -> dict[str, Any]:
    """The cluster the run created on moto (create, add-steps and terminate ran there)."""
    cluster = world.new_cluster()
    assert cluster["Status"]["State"] == "TERMINATED"  # the teardown ran
    return cluster


# -- the samples -----------------------------------------------------------------------


def _hello_check(world: World, v: Verification) -> None:
    assert v.tasks == {"ShellCommandActivity_HelloWorld": "success"}
    assert "Hello World!" in v.logs["ShellCommandActivity_HelloWorld"]


def _efs_check(world: World, v: Verification) -> None:
    calls = [line for line in world.recorded() if not line.startswith("wget ")]
    common = "10.0.1.32:/ 10.0.1.75:/ daily 7 backup-fs-12345678"
    assert calls[0] == f"efs-backup-init.sh {common}"  # fan-out after the init
    assert sorted(calls[1:4]) == [f"efs-backup-rsync.sh {common} {n} 3" for n in (0, 1, 2)]
    assert calls[4:] == ["efs-backup-end.sh daily backup-fs-12345678"]  # fan-in at the end
    base = "https://raw.githubusercontent.com/awslabs/data-pipeline-samples/master/samples"
    assert f"wget {base}/EFSBackup/efs-backup-init.sh" in world.recorded()


def _sqoop_check(world: World, v: Verification) -> None:
    cluster = _terminated_cluster(world)
    assert cluster["Name"] == "DefaultEmrCluster1"
    assert cluster["LogUri"] == "s3://data-pipeline-samples/sqoop-activity"
    assert cluster["groups"] == [("MASTER", "m3.xlarge", 1)]
    assert cluster["bootstrap"] == [
        ("s3://data-pipeline-samples/sqoop-activity/install_sqoop_ba.sh", [])
    ]
    runner = "s3://elasticmapreduce/libs/script-runner/script-runner.jar"
    base = "s3://data-pipeline-samples/sqoop-activity"
    db_args = ["rds.internal", "millionsongs", "dplcustomer"]
    assert cluster["steps"] == [
        (
            "SqoopActivity step 1",
            runner,
            [f"{base}/mysql_create_table.sh", *db_args, "pw-from-variable"],
        ),
        (
            "SqoopActivity step 2",
            runner,
            [
                f"{base}/run_sqoop_job.sh",
                "export",
                "rds.internal",
                "millionsongs",
                "songs",
                f"{base}/sqoop-sample-input.csv",
                "dplcustomer",
                "pw-from-variable",
            ],
        ),
    ]


def _redshift_to_rds_setup(world: World) -> None:
    s3 = world.bucket("dp-rds")
    # what UNLOAD ... CSV leaves in the dated folder (the unload itself is marked success)
    s3.put_object(
        Bucket="dp-rds", Key="tmp/2025-01-01-00-00-00/0000_part_00", Body=b"Hey Jude,1968\n"
    )
    s3.put_object(Bucket="dp-rds", Key="tmp/2025-01-01-00-00-00/0001_part_00", Body=b"Help!,1965\n")
    s3.put_object(Bucket="dp-rds", Key="tmp/2025-01-02-00-00-00/0000_part_00", Body=b"other,1\n")


def _redshift_to_rds_check(world: World, v: Verification) -> None:
    assert v.tasks == {
        "RedshiftToS3": "success",  # marked
        "CreateTableActivity": "success",
        "S3ToRdsCopyActivity": "success",
        "S3CleanupActivity": "success",
    }
    rows = world.sql("SELECT title, year FROM rds_songs ORDER BY year")
    assert rows == [("Help!", 1965), ("Hey Jude", 1968)]  # every file of the dated folder
    assert world.keys("dp-rds", "tmp/2025-01-01") == []  # the cleanup removed that folder
    assert world.keys("dp-rds") == ["tmp/2025-01-02-00-00-00/0000_part_00"]  # and only it
    assert world.recorded() == ["sudo yum -y update aws-cli"]


def _tsv_setup(world: World) -> None:
    s3 = world.bucket("dp-tsv")
    for name in ("one", "two"):
        s3.put_object(Bucket="dp-tsv", Key=f"in/{name}.tsv", Body=b"a\tb\n")


def _tsv_check(world: World, v: Verification) -> None:
    assert v.tasks == {
        "PreconditionId_1__RedshiftLoadActivity_1": "success",
        "PreconditionId_2__RedshiftLoadActivity_2": "success",
        "RedshiftLoadActivity_1": "success",  # marked
        "RedshiftLoadActivity_2": "success",  # marked
    }
    for n, name in ((1, "one"), (2, "two")):  # each precondition poked its own rendered key
        log = v.logs[f"PreconditionId_{n}__RedshiftLoadActivity_{n}"]
        assert f"s3://dp-tsv/in/{name}.tsv" in log


def _sql_activity_setup(world: World) -> None:
    s3 = world.bucket("data-pipeline-samples")
    script = b"CREATE TABLE sql_activity_out AS SELECT 42 AS answer;"
    s3.put_object(Bucket="data-pipeline-samples", Key="sqlactivity/script.sql", Body=script)


def _sql_activity_check(world: World, v: Verification) -> None:
    assert v.tasks == {"ActivityId_wRpKi": "success"}
    assert world.sql("SELECT answer FROM sql_activity_out") == [(42,)]  # the S3 script ran


def _spark_check(world: World, v: Verification) -> None:
    cluster = _terminated_cluster(world)
    assert cluster["ReleaseLabel"] == "emr-4.6.0"
    assert [a["Name"] for a in cluster["Applications"]] == ["spark"]
    assert cluster["Configurations"] == [
        {"Classification": "spark", "Properties": {"maximizeResourceAllocation": "true"}}
    ]
    assert cluster["LogUri"] == "s3://dp-spark/logs"  # the on-demand run's conf
    assert cluster["groups"] == [("CORE", "m3.xlarge", 1), ("MASTER", "m3.xlarge", 1)]
    spark = ["spark-submit", "--class", "org.apache.spark.examples.SparkPi"]
    assert cluster["steps"] == [
        (
            "DefaultEmrActivity1 step 1",
            "command-runner.jar",
            [*spark, "/usr/lib/spark/lib/spark-examples.jar", "100"],
        )
    ]


def _terasort_check(world: World, v: Verification) -> None:
    cluster = _terminated_cluster(world)
    assert cluster["Configurations"] == []  # configure-hadoop arguments are a bootstrap action
    names = [name for name, _, _ in cluster["steps"]]
    assert names == ["TeraGen-10GB", "TeraSort", "TeraValidate", "ProcessJHIST"]  # in order
    assert cluster["steps"][0][2] == ["teragen", "100000000", "/mnt/var/terasort/10GB/input"]
    script = "s3://datapipeline-us-east-1/sample-scripts/HadoopTeraSort/process-jhist.sh"
    assert cluster["steps"][3][2][3:] == [script, "s3://aravind-terasort/test-results"]


def _billing_setup(world: World) -> None:
    s3 = world.bucket("dp-billing")
    world.bucket("dp-billing-stage", versioned=True)  # keeps what the cleanup deletes
    for month, row in (("2025-03", b"inv-3,1.5\n"), ("2025-02", b"inv-2,9.9\n")):
        name = f"123456789012-aws-billing-detailed-line-items-{month}.csv"
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr(name, b"InvoiceID,Cost\n" + row)
        s3.put_object(Bucket="dp-billing", Key=f"in/{name}.zip", Body=buffer.getvalue())


def _billing_check(world: World, v: Verification) -> None:
    assert v.tasks == {
        "ZipFormatConversionActivity": "success",
        "RedshiftLoadActivity__create_table": "success",  # marked
        "RedshiftLoadActivity": "success",  # marked
        "S3StagingCleanupActivity": "success",
    }
    s3 = world.client("s3")
    versions = s3.list_object_versions(Bucket="dp-billing-stage")
    staged = [(o["Key"], o["VersionId"]) for o in versions.get("Versions", [])]
    folder = "x/2025-03-04-00-00-00/"
    name = "123456789012-aws-billing-detailed-line-items-2025-03.csv.gz"
    assert [k for k, _ in staged] == [folder + name]  # only this month's report, re-zipped
    body = s3.get_object(Bucket="dp-billing-stage", Key=staged[0][0], VersionId=staged[0][1])
    assert gzip.decompress(body["Body"].read()) == b"InvoiceID,Cost\ninv-3,1.5\n"
    assert world.keys("dp-billing-stage") == []  # then the cleanup deleted the staging folder
    assert [m["Key"] for m in versions.get("DeleteMarkers", [])] == [folder + name]
    assert world.recorded() == ["sudo yum -y update aws-cli"]


def _ddb_check(world: World, v: Verification) -> None:
    cluster = _terminated_cluster(world)
    jar = "s3://dynamodb-emr-us-east-1/emr-ddb-storage-handler/2.1.0/emr-ddb-2.1.0.jar"
    folder = "s3://dp-ddb/tmp/2025-01-01-00-00-00"
    tools = "org.apache.hadoop.dynamodb.tools"
    assert cluster["steps"][:2] == [  # export first, then import: the dependsOn order
        ("TableBackupActivity step 1", jar, [f"{tools}.DynamoDbExport", folder, "src", "0.25"]),
        ("TableLoadActivity step 1", jar, [f"{tools}.DynamoDbImport", folder, "dst", "0.25"]),
    ]
    name, jar, args = cluster["steps"][2]
    assert (name, jar) == ("S3CleanupActivity", "command-runner.jar")
    assert args[2] == f"(sudo yum -y update aws-cli) && (aws s3 rm {folder} --recursive)"


def _wordcount_check(world: World, v: Verification) -> None:
    cluster = _terminated_cluster(world)
    scheduler = "org.apache.hadoop.yarn.server.resourcemanager.scheduler.fair.FairScheduler"
    assert cluster["Configurations"] == [
        {
            "Classification": "yarn-site",
            "Properties": {"yarn.resourcemanager.scheduler.class": scheduler},
        }
    ]
    assert cluster["bootstrap"][0][1] == ["--fair-config-copy-file", "s3://dp-wc/fair.xml"]
    by_queue = {args[0]: args[-1] for _, _, args in cluster["steps"]}
    output = "s3://dp-wc/out/2025-01-01T00:00:00"
    assert by_queue == {
        "-Dmapreduce.job.queuename=queue_1": output,
        "-Dmapreduce.job.queuename=queue_2": output,
    }


def _pig_check(world: World, v: Verification) -> None:
    cluster = _terminated_cluster(world)
    assert cluster["ReleaseLabel"] == "emr-4.2.0"
    [(_, jar, args)] = cluster["steps"]
    assert jar == "command-runner.jar"
    assert args[4].startswith("input1 = LOAD 's3://dp-pig/in/' USING ")
    assert args[5] == "s3://dp-pig/script.pig"
    assert args[7] == "STORE output1 INTO 's3://dp-pig/out/' USING PigStorage('*');"
    script_params = [
        "column1=First",
        "column2=Second",
        "three=3",
        "input1=input1",
        "output1=output1",
    ]
    assert args[8:] == [x for p in script_params for x in ("-p", p)]


def _oracle_setup(world: World) -> None:
    world.bucket("dp-oracle")
    world.sql("CREATE TABLE mytable (id int, name text)")
    world.sql("INSERT INTO mytable VALUES (1, 'ada'), (2, 'grace')")


def _oracle_check(world: World, v: Verification) -> None:
    assert v.tasks == {"BackupTable": "success"}
    # directoryPath '#{myBackupLocation}/#{day(@scheduledStartTime)}/': a file in that folder
    assert world.keys("dp-oracle") == ["backups/4/BackupTable.csv"]
    # CSV records as a CopyActivity writes them: no header line, no index column
    assert world.text("dp-oracle", "backups/4/BackupTable.csv") == "1,ada\n2,grace\n"


SAMPLE_RUNS = [
    Sample("helloworld.json", "helloworld", "2025-01-01T00:00:00+00:00", _hello_check),
    Sample("ondemand.json", "ondemand", "2025-03-04T10:00:00+00:00", _hello_check),
    Sample(
        "3-Node-EFSBackupPipeline.json",
        "3_Node_EFSBackupPipeline",
        "2025-03-04T00:00:00+00:00",
        _efs_check,
    ),
    Sample(
        "RDStoRedshiftSqoop-setup.json",
        "RDStoRedshiftSqoop_setup",
        "2025-01-01T00:00:00+00:00",
        _sqoop_check,
        conf={"myRdsEndpoint": "rds.internal"},
        mark_success=".*__wait",
        why_marked=EMR_STEPS,
    ),
    Sample(
        "RedshiftToRDS_withTableCreate.json",
        "RedshiftToRDS_withTableCreate",
        "2025-01-01T00:00:00+00:00",
        _redshift_to_rds_check,
        setup=_redshift_to_rds_setup,
        conf={
            "myOutputS3Path": "s3://dp-rds/tmp",
            "myRedshiftTableName": "songs",
            "myRDSTableName": "rds_songs",
            "myCreateTableQuery": "CREATE TABLE rds_songs (title text, year int)",
        },
        mark_success="RedshiftToS3",
        why_marked=REDSHIFT,
    ),
    Sample(
        "S3TsvFilesToRedshiftTablesIfReady.json",
        "S3TsvFilesToRedshiftTablesIfReady",
        "2025-01-01T00:00:00+00:00",
        _tsv_check,
        setup=_tsv_setup,
        conf={
            "myInputTsvFilesS3Loc_1": "s3://dp-tsv/in/one.tsv",
            "myInputTsvFilesS3Loc_2": "s3://dp-tsv/in/two.tsv",
            "myDestRedshiftTable_1": "t1",
            "myDestRedshiftTable_2": "t2",
        },
        mark_success="RedshiftLoadActivity_.*",
        why_marked=REDSHIFT,
    ),
    Sample(
        "SQLActivityWithTimeout.json",
        "SQLActivityWithTimeout",
        "2025-01-01T00:00:00+00:00",
        _sql_activity_check,
        setup=_sql_activity_setup,
    ),
    Sample(
        "SparkPi-maximizeResource.json",
        "SparkPi_maximizeResource",
        "2025-03-04T10:00:00+00:00",
        _spark_check,
        conf={"myPipelineLogUri": "s3://dp-spark/logs"},
        mark_success=".*__wait",
        why_marked=EMR_STEPS,
    ),
    Sample(
        "TeraSortHadoopBenchmark.json",
        "TeraSortHadoopBenchmark",
        "2025-01-02T00:00:00+00:00",
        _terasort_check,
        mark_success=".*__wait",
        why_marked=EMR_STEPS,
    ),
    Sample(
        "billing-template.json",
        "billing_template",
        "2025-03-04T00:00:00+00:00",
        _billing_check,
        setup=_billing_setup,
        conf={
            "myS3BillingLogLoc": "s3://dp-billing/in/",
            "myS3StagingLoc": "s3://dp-billing-stage/x/",
            "myRedshiftTableName": "bills",
        },
        mark_success="RedshiftLoadActivity.*",
        why_marked=REDSHIFT,
    ),
    Sample(
        "dynamodb-to-dynamodb.json",
        "dynamodb_to_dynamodb",
        "2025-01-01T00:00:00+00:00",
        _ddb_check,
        conf={
            "myTempS3Folder": "s3://dp-ddb/tmp",
            "myDDBSourceTableName": "src",
            "myDDBDestinationTableName": "dst",
            "myS3LogsPath": "s3://dp-ddb/logs",
        },
        mark_success=".*__wait",
        why_marked=EMR_STEPS,
    ),
    Sample(
        "hadoop-activity-world-count-fair.json",
        "hadoop_activity_world_count_fair",
        "2025-01-01T00:00:00+00:00",
        _wordcount_check,
        conf={
            "myOutputFolder": "s3://dp-wc/out",
            "myPipelineLogUri": "s3://dp-wc/logs",
            "myFairConfig": "s3://dp-wc/fair.xml",
        },
        mark_success=".*__wait",
        why_marked=EMR_STEPS,
    ),
    Sample(
        "pig_activity_sample.json",
        "pig_activity_sample",
        "2025-01-01T00:00:00+00:00",
        _pig_check,
        conf={
            "myPigScriptUri": "s3://dp-pig/script.pig",
            "myS3Input": "s3://dp-pig/in/",
            "myS3Output": "s3://dp-pig/out/",
            "myLogUri": "s3://dp-pig/logs",
        },
        mark_success=".*__wait",
        why_marked=EMR_STEPS,
    ),
    Sample(
        "oracle-backup/definition.json",
        "oracle_backup",
        "2025-03-04T00:00:00+00:00",
        _oracle_check,
        setup=_oracle_setup,
        conf={"myBackupLocation": "s3://dp-oracle/backups"},
        options={
            "parameters": SAMPLES / "oracle-backup" / "parameters.json",
            "values": SAMPLES / "oracle-backup" / "values.json",
        },
    ),
]


def test_every_public_sample_is_executed():
    """No sample is left out of the runs (kinesis-to-s3 is rejected: invalid period)."""
    sources = {s.source for s in SAMPLE_RUNS}
    published = {p.name for p in SAMPLES.glob("*.json")} - {"kinesis-to-s3.json"}
    assert sources == published | {"oracle-backup/definition.json"}


# -- running them ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample_db() -> Iterator[str]:
    with scratch_database("dp_samples") as url:
        yield url


@pytest.fixture(scope="module")
def world(moto_server: str, sample_db: str, tmp_path_factory) -> World:
    return World(moto_server, sample_db, tmp_path_factory.mktemp("standins") / "record.txt")


@pytest.fixture(scope="module")
def runner(world: World, airflow, tmp_path_factory) -> AirflowCheck:
    """One scratch Airflow home whose tasks reach moto, PostgreSQL and the stand-ins."""
    bin_dir = world.record.parent / "bin"
    bin_dir.mkdir()
    for name, text in (("wget", WGET), ("sudo", SUDO)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    conn = connection_uri(world.database)
    env = {
        **task_env(world.endpoint),
        "PATH": os.pathsep.join([str(bin_dir), str(airflow.path / "bin"), os.environ["PATH"]]),
        "DP_STANDIN_RECORD": str(world.record),
        # the samples' databases (RDS MySQL, an RDS instance, Oracle over JDBC): PostgreSQL
        "AIRFLOW_CONN_RDSDATABASE": conn,
        "AIRFLOW_CONN_DATABASEID_RAZMM": conn,
        "AIRFLOW_CONN_ORACLEDATABASE": conn,
        "AIRFLOW_VAR_MYRDSDBPASSWORD": "pw-from-variable",  # a secret parameter
    }
    return AirflowCheck(tmp_path_factory.mktemp("dp_samples_home"), airflow.version, env=env)


@pytest.mark.parametrize("sample", SAMPLE_RUNS, ids=[s.dag_id for s in SAMPLE_RUNS])
def test_sample_runs_with_its_side_effects(sample: Sample, world, runner, tmp_path):
    result = convert_file(
        SAMPLES / sample.source, activation=ACTIVATION, dag_id=sample.dag_id, **sample.options
    )
    [dag] = result.dags
    write_result(result, tmp_path)
    world.record.unlink(missing_ok=True)
    world.clusters_before = {c["Id"] for c in world.client("emr").list_clusters()["Clusters"]}
    sample.setup(world)
    v = runner.run(
        tmp_path / dag.filename,
        dag.dag_id,
        sample.logical_date,
        mark_success=sample.mark_success,
        conf=sample.conf,
    )
    assert v.ok, v.detail
    assert set(v.tasks.values()) == {"success"}, v.tasks
    # a task ran (it has a log) unless the sample marks it, for the reason it gives
    pattern = re.compile(sample.mark_success or "(?!)")
    ran = {t for t in v.tasks if not pattern.fullmatch(t)}
    assert set(v.logs) == ran, (sorted(v.logs), sorted(ran))
    assert ran == set(v.tasks) or sample.why_marked
    sample.check(world, v)
