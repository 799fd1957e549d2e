"""A running Airflow 3 target: API server, scheduler and DAG processor on a test database.

Why shared: the tests that ask a migrated target's own services about it
(``test_target_runs_on``) and the load test that imports into a target while they run
(``tests/faults/test_live_target``) start and stop them the same way.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import requests

from airshift import airflow_env
from tests.conftest import free_port
from tests.realairflow import build


@contextlib.contextmanager
def running_target(version: str, url: str, fernet_key: str, tmp: Path) -> Iterator[str]:
    """Airflow ``version``'s API server, scheduler and DAG processor on ``url`` (the lab
    DAGs deployed); yields the API server's base URL. Their logs are ``tmp/NAME.log``."""
    env = airflow_env.ensure(version)
    home = tmp / "target-home"
    shutil.copytree(
        build.HERE / "dags", home / "dags", ignore=shutil.ignore_patterns("__pycache__")
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    extra = {
        "AIRFLOW__CORE__FERNET_KEY": fernet_key,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base}/execution/",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API_AUTH__JWT_SECRET": "airshift-test-only-secret",
        "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "5",
    }
    logs = {
        name: open(tmp / f"{name}.log", "w")  # noqa: SIM115 (closed in the finally below)
        for name in ("api-server", "scheduler", "dag-processor")
    }

    def start(name: str) -> subprocess.Popen:
        return subprocess.Popen(
            [str(env.path / "bin" / "airflow"), name],
            env=env.environ(home, url, extra),
            stdout=logs[name],
            stderr=subprocess.STDOUT,
        )

    # The API server first: the scheduler's tasks report to its execution API.
    procs = [start("api-server")]
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{base}/api/v2/monitor/health", timeout=10).ok:
                    break
            except requests.RequestException:  # not up yet, or slow on a loaded machine
                pass
            time.sleep(1)
        procs += [start("scheduler"), start("dag-processor")]
        yield base
    finally:
        # Last started, first stopped: the scheduler's tasks report to the API server, so it
        # stays up until they are done (stopped first, a running task's report is refused).
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        for f in logs.values():
            f.close()
