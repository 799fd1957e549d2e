"""Airflow's long-running commands (scheduler, DAG processor, API server) for a test's span.

Why one place: a test that lets a real scheduler work starts the same processes with the
same settings and must stop them in the same order whatever happens (last started, first
stopped: a 3.x scheduler's tasks report to the API server, so it stays up until they are
done); their output goes to files in the test's tmp folder for people to read.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path

import requests

from airshift import airflow_env
from tests.conftest import free_port
from tests.realairflow import build

Start = Callable[[str], subprocess.Popen]


def api_server_env(fernet_key: str) -> tuple[str, dict[str, str]]:
    """(base URL, settings) for a 3.x environment whose API server, scheduler and DAG
    processor run on this machine (LocalExecutor; every user an admin)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    return base, {
        "AIRFLOW__CORE__FERNET_KEY": fernet_key,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base}/execution/",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API_AUTH__JWT_SECRET": "airshift-test-only-secret",
        "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "5",
        **own_log_server(),
    }


def own_log_server() -> dict[str, str]:
    """A free port for the task log server a scheduler starts (default 8793, which
    another test's scheduler on this machine may hold)."""
    return {"AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port())}


def wait_healthy(base: str, seconds: float = 600) -> None:
    """Wait for the API server's health check. Generous: on a shared 2-core machine under
    a load of 20 an Airflow 3 API server took more than 180 s to answer its first request."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/api/v2/monitor/health", timeout=10).ok:
                return
        except requests.RequestException:  # not up yet, or slow on a loaded machine
            pass
        time.sleep(1)
    raise AssertionError(f"the API server at {base} did not come up in {seconds:g}s")


@contextmanager
def running(
    env: airflow_env.AirflowEnv,
    home: Path,
    url: str,
    extra: Mapping[str, str],
    logs: Path,
) -> Iterator[Start]:
    """Yields ``start(NAME)``, which starts ``airflow NAME`` (its output in ``logs/NAME.log``);
    every process started is stopped on leaving, the last started first."""
    logs.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:

        def start(name: str) -> subprocess.Popen:
            out = stack.enter_context(open(logs / f"{name}.log", "w"))
            proc = subprocess.Popen(
                [str(env.path / "bin" / "airflow"), name],
                env=env.environ(home, url, extra),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
            stack.callback(build.stop, proc)
            return proc

        yield start
