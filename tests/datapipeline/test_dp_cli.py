"""``airshift datapipeline convert`` end to end, through the installed console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
AIRSHIFT = str(Path(sys.executable).parent / "airshift")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "240"}  # a wide terminal: Rich folds nothing
    return subprocess.run(
        [AIRSHIFT, "datapipeline", "convert", *args], capture_output=True, text=True, env=env
    )


def test_convert_file_writes_dag_and_report_and_prints_json(tmp_path):
    proc = run(
        str(HERE / "samples" / "helloworld.json"),
        "--out",
        str(tmp_path),
        "--json",
        "--activation-date",
        "2025-01-01",
    )
    assert proc.returncode == 0, proc.stderr
    payload = json.loads(proc.stdout)
    [result] = payload["results"]
    assert result["dags"][0]["dag_id"] == "helloworld"
    assert result["dags"][0]["tasks"] == ["ShellCommandActivity_HelloWorld"]
    assert result["dags"][0]["params"] == {}  # myS3LogsPath only fed pipelineLogUri
    assert result["unused_parameters"] == ["myS3LogsPath"]
    assert (tmp_path / "helloworld.py").exists() and (tmp_path / "helloworld.report.md").exists()
    assert "start_date=pendulum.datetime(2025, 1, 1" in (tmp_path / "helloworld.py").read_text()


def test_user_error_is_a_message_and_exit_2_not_a_traceback(tmp_path):
    proc = run(str(HERE / "samples" / "kinesis-to-s3.json"), "--out", str(tmp_path))
    assert proc.returncode == 2
    assert "invalid period '15 Period'" in proc.stderr and "Traceback" not in proc.stderr
    assert not list(tmp_path.glob("*.py"))


def test_folder_with_a_bad_definition_converts_the_rest_and_exits_1(tmp_path):
    proc = run(str(HERE / "samples"), "--out", str(tmp_path), "--json")
    assert proc.returncode == 1
    payload = json.loads(proc.stdout)
    assert [Path(f["file"]).name for f in payload["failures"]] == ["kinesis-to-s3.json"]
    definitions = [p for p in (HERE / "samples").rglob("*.json") if "objects" in p.read_text()]
    assert len(list(tmp_path.glob("*.py"))) == len(payload["results"]) == len(definitions) - 1


def test_connections_stub_is_importable_form_without_passwords(tmp_path):
    proc = run(str(HERE / "definitions" / "everything.json"), "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    stub = json.loads((tmp_path / "everything.connections.json").read_text())
    assert stub["shopdb"] == {
        "conn_type": "postgres",
        "host": "db.example.com",
        "schema": "shop",
        "login": "shop",
        "port": 5432,
        "extra": {
            "jdbc_driver": "org.postgresql.Driver",
            "connection_string": "jdbc:postgresql://db.example.com:5432/shop",
        },
    }
    assert stub["dw"]["extra"]["cluster_identifier"] == "warehouse"
    report = json.loads(
        run(str(HERE / "definitions" / "everything.json"), "--out", str(tmp_path), "--json").stdout
    )
    # secret parameters feed connection passwords: used, and never printed
    assert report["results"][0]["unused_parameters"] == []
    assert "password" not in json.dumps(stub) and "secret-in-file" not in json.dumps(stub)


def test_values_option_and_human_summary(tmp_path):
    values = tmp_path / "values.json"
    values.write_text(json.dumps({"values": {"myPathToTerasortResults": "s3://elsewhere"}}))
    proc = run(
        str(HERE / "samples" / "TeraSortHadoopBenchmark.json"),
        "--out",
        str(tmp_path),
        "--values",
        str(values),
        "--catchup",
    )
    assert proc.returncode == 0, proc.stderr
    assert "TeraSortHadoopBenchmark.py" in proc.stdout
    code = (tmp_path / "TeraSortHadoopBenchmark.py").read_text()
    assert '"s3://elsewhere"' in code and "catchup=True" in code
