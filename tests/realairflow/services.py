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

# An execution-API call can take long on a loaded test machine. With the default 5 s the
# Task SDK gives up and retries, the API server, reading each abandoned request's body late,
# answers 400 ("There was an error parsing the body"), and the task fails before it starts
# (docs/airflow-3.4.md, "The execution API's 400s"; see also warm_execution_api).
PATIENT_TASKS = {"AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "600"}


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
        **PATIENT_TASKS,
        **own_log_server(),
    }


def own_log_server() -> dict[str, str]:
    """A free port for the task log server a scheduler starts (default 8793, which
    another test's scheduler on this machine may hold)."""
    return {"AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port())}


def warm_execution_api(base: str, seconds: float = 600) -> None:
    """Make the execution API's first request, before any task does.

    The execution API (Cadwyn) builds its versioned routers on its first request, in the
    server's event loop: 80-100 s for 3.4.0b2 on the loaded 2-core test machine, during
    which the server answers nothing (docs/airflow-3.4.md, "The execution API's 400s")."""
    requests.get(f"{base}/execution/health", timeout=seconds).raise_for_status()


def wait_healthy(base: str, seconds: float = 600) -> None:
    """Wait for the API server to answer, then warm its execution API for tasks; a
    deadline, not a timing check (a 3.4 API server took over 180 s to start on the 2-core
    test machine at load 18)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/api/v2/monitor/health", timeout=10).ok:
                warm_execution_api(base, max(deadline - time.monotonic(), 1))
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
