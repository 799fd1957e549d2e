"""Real Airflow homes with real task logs, and a local AWS stand-in (moto server).

Session-scoped: each Airflow version runs the demo DAG once (a few seconds of real task
runs through its executor, which is what writes log files); every test copies from those.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from airshift import airflow_env
from tests.conftest import free_port
from tests.realairflow import services
from tests.realairflow.versions import AIRFLOW_3_4

HERE = Path(__file__).parent
# A custom template with a 2.x-only context variable ({{ ds }}): Airflow 3 renders it as an
# empty string, so the same template names a log differently in 2.x and in 3.x. (Airflow
# 3 writes logs with only ``ti`` in the context, hence the default() for try_number.)
CUSTOM_TEMPLATE = (
    "{{ ti.dag_id }}/{{ ds }}/{{ ti.run_id }}/{{ ti.task_id }}/"
    "{% if ti.map_index >= 0 %}{{ ti.map_index }}/{% endif %}"
    "{{ try_number|default(ti.try_number) }}.log"
)


@dataclass(frozen=True)
class AirflowHome:
    """One Airflow home after a real run of the demo DAG."""

    env: airflow_env.AirflowEnv
    home: Path
    extra: Mapping[str, str]

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.home / 'airflow.db'}"

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    def read_logs(self, tries: list[tuple], log_folder: Path) -> dict[str, str | None]:
        """Ask this Airflow's own log reader for each try, with logs under ``log_folder``."""
        extra = dict(self.extra) | {"AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(log_folder)}
        proc = self.env.run(
            ["python", str(HERE / "read_task_log.py"), json.dumps(tries)],
            home=self.home,
            db_url=self.db_url,
            extra_env=extra,
        )
        return json.loads(proc.stdout.strip().splitlines()[-1])


def _isolated(home: Path) -> dict[str, str]:
    """Loopback-only servers and a private JWT secret: nothing reaches another process."""
    port = free_port()
    return {
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__API_AUTH__JWT_SECRET": "airshift-tests-only",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__CORE__PARALLELISM": "2",
        **services.PATIENT_TASKS,
    }


def _airflow(env: airflow_env.AirflowEnv) -> list[str]:
    return [str(env.path / "bin" / "airflow")]


@contextmanager
def _api_server(env: airflow_env.AirflowEnv, home: Path, extra: Mapping[str, str]):
    """Airflow 3 tasks report to the execution API: run one on loopback for the DAG run."""
    if env.major < 3:
        yield
        return
    port = extra["AIRFLOW__API__PORT"]
    with open(home / "api-server.out", "w") as out:
        proc = subprocess.Popen(
            [*_airflow(env), "api-server", "--host", "127.0.0.1", "--port", port, "--workers", "1"],
            env=env.environ(home, f"sqlite:///{home / 'airflow.db'}", extra),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 600  # a deadline: API servers start slowly under load
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError((home / "api-server.out").read_text()[-3000:]) from None
                time.sleep(0.5)
        services.warm_execution_api(f"http://127.0.0.1:{port}")
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def run_demo(version: str, root: Path, extra: Mapping[str, str] | None = None) -> AirflowHome:
    """A new home for ``version`` that ran the demo DAG once through its executor."""
    env = airflow_env.ensure(version)
    home = root / f"airflow-{version}"
    shutil.copytree(HERE / "dags", home / "dags")
    af = AirflowHome(env, home, _isolated(home) | dict(extra or {}))
    env.run(["db", "migrate"], home=home, db_url=af.db_url, extra_env=af.extra)
    if env.major >= 3:
        command = [
            str(env.python),
            str(HERE / "run_demo_dag.py"),
            str(home / "dags" / "logdemo.py"),
        ]
    elif "LOGDEMO_SCHEDULE" in af.extra:
        command = [*_airflow(env), "dags", "backfill", "-s", "2024-01-01", "-e", "2024-01-01"]
        command.append("logdemo")
    else:
        command = [*_airflow(env), "dags", "test", "logdemo", "2024-01-01", "--use-executor"]
    with _api_server(env, home, af.extra), open(home / "dags-test.out", "w") as out:
        # Output to a file, not a pipe: executor children may keep a pipe open after exit.
        subprocess.run(
            command,
            env=env.environ(home, af.db_url, af.extra),
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=300,
            check=True,
            start_new_session=True,
        )
    return af


@pytest.fixture(scope="session")
def af2(tmp_path_factory: pytest.TempPathFactory) -> AirflowHome:
    """Airflow 2.10.5 with its default log layout (text log lines)."""
    return run_demo("2.10.5", tmp_path_factory.mktemp("af2"))


@pytest.fixture(scope="session")
def af28(tmp_path_factory: pytest.TempPathFactory) -> AirflowHome:
    """Airflow 2.8.4: no task_instance_history, so earlier tries come from task_fail."""
    extra = {"LOGDEMO_SCHEDULE": "@daily"}
    return run_demo("2.8.4", tmp_path_factory.mktemp("af28"), extra)


@pytest.fixture(scope="session")
def af3(tmp_path_factory: pytest.TempPathFactory) -> AirflowHome:
    """Airflow 3.3.2 with CUSTOM_TEMPLATE (JSON log lines), the same run_id as af2.

    It is a source of 3.x logs, and the target for af2's: its metadata holds the same
    tries as af2's, as migrated metadata will. (Not ``db migrate`` on a copy of af2's
    SQLite DB: Airflow 3.3.2's upgrade of a 2.10.5 SQLite database leaves task_instance
    empty, and the metadata import is another airshift feature.)
    """
    extra = {"AIRFLOW__LOGGING__LOG_FILENAME_TEMPLATE": CUSTOM_TEMPLATE}
    return run_demo("3.3.2", tmp_path_factory.mktemp("af3"), extra)


@pytest.fixture(scope="session")
def af34(tmp_path_factory: pytest.TempPathFactory) -> AirflowHome:
    """Airflow 3.4 (CUSTOM_TEMPLATE as af3): every try is a task_instance row (archived
    attempts instead of task_instance_history), the map index is ``region_index``."""
    extra = {"AIRFLOW__LOGGING__LOG_FILENAME_TEMPLATE": CUSTOM_TEMPLATE}
    return run_demo(AIRFLOW_3_4, tmp_path_factory.mktemp("af34"), extra)


def cli(
    *args: str, env: Mapping[str, str] | None = None, prefix: Sequence[str] = ()
) -> subprocess.CompletedProcess[str]:
    """Run the real ``airshift`` console script (under ``prefix``, a command wrapper)."""
    exe = Path(sys.executable).parent / "airshift"
    return subprocess.run(
        [*prefix, str(exe), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ | dict(env or {}),
        check=False,
    )


class _ThrottlingProxy(ThreadingHTTPServer):
    """Forwards to moto, answering every ``every``-th CloudWatch Put/GetLogEvents call with
    ThrottlingException, as CloudWatch does past its request-rate quota."""

    daemon_threads = True

    def __init__(self, upstream: str, every: int) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.upstream = urllib.parse.urlsplit(upstream)
        self.every = every
        self.lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.throttled = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _ProxyHandler(BaseHTTPRequestHandler):
    server: _ThrottlingProxy

    def log_message(self, *args: object) -> None:
        pass

    def _handle(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        action = self.headers.get("X-Amz-Target", "").rpartition(".")[2]
        with self.server.lock:
            self.server.calls[action] += 1
            throttle = action in ("PutLogEvents", "GetLogEvents") and (
                self.server.calls[action] % self.server.every == 0
            )
            self.server.throttled += throttle
        if throttle:
            payload = b'{"__type":"ThrottlingException","message":"Rate exceeded"}'
            self.send_response(400)
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        up = self.server.upstream
        conn = http.client.HTTPConnection(up.hostname, up.port, timeout=60)
        conn.request(self.command, self.path, body, dict(self.headers))
        response = conn.getresponse()
        data = response.read()
        self.send_response(response.status)
        for key, value in response.getheaders():
            if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        conn.close()

    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _handle


@pytest.fixture
def throttling_proxy(moto_server: str) -> Iterator[_ThrottlingProxy]:
    proxy = _ThrottlingProxy(moto_server, every=3)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.shutdown()
        proxy.server_close()
