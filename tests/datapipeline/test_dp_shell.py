"""The bash a ShellCommandActivity becomes, run for real against a stand-in ``aws`` CLI.

The command is rendered by Airflow (through the DagBag probe), then executed by bash with a
stub ``aws s3 cp`` that maps ``s3://`` to a local folder. This checks what the shell
composition means: staged inputs and outputs, arguments that reach ``$1 $2`` unchanged
whatever they contain, captured streams uploaded, and the exit status kept.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

AWS_STUB = """#!/usr/bin/env bash
# aws s3 cp [--recursive] SRC DST, with s3://X mapped to $FAKE_S3/X
set -e
[ "$1 $2" = "s3 cp" ] || { echo "unexpected: $*" >&2; exit 2; }
shift 2
recursive=""
if [ "$1" = "--recursive" ]; then recursive=1; shift; fi
map() { case "$1" in s3://*) echo "$FAKE_S3/${1#s3://}";; *) echo "$1";; esac; }
src="$(map "$1")"; dst="$(map "$2")"
if [ -n "$recursive" ]; then mkdir -p "$dst"; cp -R "$src/." "$dst"; else
  mkdir -p "$(dirname "$dst")"; cp "$src" "$dst"; fi
"""


def _run_staging_task(
    dagbag, task: str, tmp_path: Path, inputs: dict[str, str]
) -> tuple[subprocess.CompletedProcess, Path]:
    """Run the staging DAG's ``task`` as Airflow rendered it, with ``aws`` stubbed and
    ``s3://bucket/in/`` holding ``inputs``; the finished process and the fake S3 folder."""
    rendered = dagbag["dags"]["staging"]["tasks"][task]["rendered"]
    bin_dir, s3 = tmp_path / "bin", tmp_path / "s3"
    bin_dir.mkdir()
    (bin_dir / "aws").write_text(AWS_STUB)
    (bin_dir / "aws").chmod(0o755)
    (s3 / "bucket" / "in").mkdir(parents=True)
    for name, text in inputs.items():
        (s3 / "bucket" / "in" / name).write_text(text)
    env = {
        **os.environ,
        **rendered["env"],
        "FAKE_S3": str(s3),
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
    }
    proc = subprocess.run(
        ["bash", "-c", rendered["bash_command"]], env=env, capture_output=True, text=True
    )
    return proc, s3


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_staged_shell_activity_runs_as_data_pipeline_would(dagbag, tmp_path):
    proc, s3 = _run_staging_task(dagbag, "Shout", tmp_path, {"in.txt": "hello\n"})
    assert proc.returncode == 0, proc.stderr
    expected_out = "args: two words|$HOME'\"`x`|2025-03-04\n"
    assert (s3 / "bucket" / "out" / "2025-03-04" / "out.txt").read_text() == "HELLO\n"
    assert (s3 / "bucket" / "logs" / "out.txt").read_text() == expected_out
    assert (s3 / "bucket" / "logs" / "err.txt").read_text() == "oops\n"
    assert proc.stdout == expected_out  # still visible in the Airflow task log


def test_failing_command_keeps_its_status_uploads_logs_not_outputs(dagbag, tmp_path):
    proc, s3 = _run_staging_task(dagbag, "Fail", tmp_path, {})
    assert proc.returncode == 3
    assert (s3 / "bucket" / "logs" / "fail.txt").read_text() == "before\n"
    assert not (s3 / "bucket" / "out2").exists()
