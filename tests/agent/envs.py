"""Real Airflow environments with the airshift agent installed in their own virtualenvs.

Why replicas: an environment's packages are its own (Airflow's release, resolved as of
its date: the cached runtime). The agent is installed into an exact copy of that runtime
the way a user installs it, with every package already there pinned (``-c``, as MWAA
installs requirements against its constraints), so a test sees what an environment would
get, and the cached runtime itself stays untouched.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from airshift import airflow_env
from airshift.runtimes.venv import uv_binary
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]


def build_wheel(dest: Path) -> Path:
    """airshift's wheel, built from this checkout."""
    subprocess.run([uv_binary(), "build", "--wheel", "-q", "-o", str(dest), str(ROOT)], check=True)
    return next(dest.glob("airshift-*.whl"))


def _uv(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([uv_binary(), *args], capture_output=True, text=True, check=False)


# The pins of airshift's own requirements that Airflow does not install (and of pyarrow's
# numpy: pyarrow 14 needs numpy 1; of boto3's botocore, s3transfer and jmespath, which every
# MWAA image has), as each release's constraints file has them
# (aws/amazon-mwaa-docker-images images/airflow/V/etc/airflow_constraints.txt, copied from
# apache/airflow constraints-V/constraints-3.11.txt; 2.7.2 and 2.8.1 from
# aws/aws-mwaa-local-runner's branch vV docker/config/constraints.txt).
CONSTRAINTS: dict[str, dict[str, str]] = {
    "2.7.2": {
        "ruff": "0.0.292",
        "pyarrow": "11.0.0",
        "fsspec": "2023.9.2",
        "numpy": "1.24.4",
        "boto3": "1.28.17",
        "botocore": "1.31.17",
        "s3transfer": "0.6.2",
        "jmespath": "0.10.0",
    },
    "2.8.1": {
        "ruff": "0.1.11",
        "pyarrow": "14.0.2",
        "fsspec": "2023.12.2",
        "numpy": "1.24.4",
        "boto3": "1.33.13",
        "botocore": "1.33.13",
        "s3transfer": "0.8.2",
        "jmespath": "0.10.0",
        "pyarrow-hotfix": "0.6",
    },
    "2.9.2": {
        "ruff": "0.3.3",
        "uv": "0.2.2",
        "pyarrow": "14.0.2",
        "numpy": "1.26.4",
        "boto3": "1.34.106",
        "botocore": "1.34.106",
        "s3transfer": "0.10.1",
        "jmespath": "0.10.0",
        "pyarrow-hotfix": "0.6",
    },
    "2.10.1": {
        "ruff": "0.5.5",
        "uv": "0.4.1",
        "pyarrow": "14.0.2",
        "numpy": "1.26.4",
        "boto3": "1.35.7",
        "botocore": "1.35.7",
        "s3transfer": "0.10.2",
        "jmespath": "0.10.0",
        "pyarrow-hotfix": "0.6",
    },
    "2.10.3": {
        "ruff": "0.5.5",
        "uv": "0.4.1",
        "pyarrow": "16.1.0",
        "numpy": "1.26.4",
        "boto3": "1.35.36",
        "botocore": "1.35.36",
        "s3transfer": "0.10.3",
        "jmespath": "0.10.0",
        "pyarrow-hotfix": "0.6",
    },
    "2.11.0": {
        "ruff": "0.5.5",
        "uv": "0.7.3",
        "pyarrow": "16.1.0",
        "numpy": "1.26.4",
        "boto3": "1.37.3",
        "botocore": "1.37.3",
        "s3transfer": "0.11.3",
        "jmespath": "0.10.0",
    },
    "2.11.2": {
        "ruff": "0.5.5",
        "uv": "0.10.7",
        "typer": "0.24.1",
        "pyarrow": "22.0.0",
        "numpy": "1.26.4",
        "boto3": "1.42.61",
        "botocore": "1.42.61",
        "s3transfer": "0.16.0",
        "jmespath": "0.10.0",
    },
    "3.0.6": {
        "ruff": "0.12.1",
        "uv": "0.8.13",
        "libcst": "1.8.2",
        "typer": "0.16.1",
        "pyarrow": "18.1.0",
        "numpy": "1.26.4",
        "boto3": "1.39.11",
        "botocore": "1.39.11",
        "s3transfer": "0.13.1",
        "jmespath": "0.10.0",
        "pyarrow-hotfix": "0.7",
    },
    "3.2.1": {
        "uv": "0.11.7",
        "libcst": "1.8.6",
        "typer": "0.24.1",
        "pyarrow": "23.0.1",
        "numpy": "2.4.4",
        "boto3": "1.42.84",
        "botocore": "1.42.84",
        "s3transfer": "0.16.0",
        "jmespath": "1.1.0",
    },
    "3.3.1": {
        "uv": "0.12.3",
        "libcst": "1.9.0",
        "typer": "0.27.1",
        "pyarrow": "25.0.0",
        "numpy": "2.5.1",
        "boto3": "1.43.56",
        "botocore": "1.43.56",
        "s3transfer": "0.19.2",
        "jmespath": "1.1.0",
    },
}


# Packages Airflow itself installs that an MWAA image has at its constraints' version, not
# at the release-date resolution of the cached runtime, where the agent's requirements
# depend on the difference: the image's boto3 pins a botocore that takes only an older
# urllib3 than the runtime resolves (2.7.2: botocore 1.31.17 takes < 1.27, the image has
# 1.26.17, the runtime 2.0.6; 2.8.1: botocore 1.33.13 takes < 2.1, the image has 2.0.7,
# the runtime 2.1.0). Elsewhere the runtime's urllib3 fits the image's botocore.
IMAGE_PINS: dict[str, dict[str, str]] = {
    "2.7.2": {"urllib3": "1.26.17"},
    "2.8.1": {"urllib3": "2.0.7"},
}


@dataclass(frozen=True)
class Replica:
    """A copy of a release's runtime; ``before`` is its package list as the runtime has it
    (``IMAGE_PINS`` applied); ``pins`` pins those and ``constrained``, the release's
    constraints for packages airshift needs that the runtime does not have."""

    version: str
    path: Path
    before: dict[str, str]
    pins: Path
    constrained: dict[str, str]

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    def freeze(self) -> dict[str, str]:
        out = _uv("pip", "freeze", "--python", str(self.python)).stdout
        pairs = (re.split(r"==| @ ", line, maxsplit=1) for line in out.splitlines())
        return {p[0]: p[1] for p in pairs if len(p) == 2}

    def install(
        self, *requirements: str, flags: tuple[str, ...] = ()
    ) -> subprocess.CompletedProcess[str]:
        """pip-install with every package the runtime has pinned, as an environment would."""
        pinned = ["-c", str(self.pins)]
        return _uv("pip", "install", "--python", str(self.python), *pinned, *flags, *requirements)

    def changed(self) -> dict[str, tuple[str, str | None]]:
        """Packages of the runtime whose version is no longer the same."""
        now = self.freeze()
        return {n: (v, now.get(n)) for n, v in self.before.items() if now.get(n) != v}


def replica(version: str, where: Path) -> Replica:
    runtime = airflow_env.ensure(version)
    stamp = json.loads((runtime.path / ".airshift-runtime.json").read_text())
    before = {name: v for name, v in stamp["packages"].items()} | IMAGE_PINS.get(version, {})
    where.mkdir(parents=True, exist_ok=True)
    pins = where / f"pins-{version}.txt"
    pins.write_text("".join(f"{n}=={v}\n" for n, v in sorted(before.items())))
    path = where / f"airflow-{version}"
    base = Path(os.path.realpath(runtime.python))
    for args in (
        ("venv", "-q", "-p", str(base), str(path)),
        ("pip", "install", "-q", "--python", str(path / "bin" / "python"), "-r", str(pins)),
    ):
        proc = _uv(*args)
        assert proc.returncode == 0, proc.stderr[-2000:]
    constrained = {n: v for n, v in CONSTRAINTS.get(version, {}).items() if n not in before}
    with pins.open("a") as out:
        out.writelines(f"{n}=={v}\n" for n, v in constrained.items())
    return Replica(version, path, before, pins, constrained)


def with_agent(version: str, where: Path, wheel: Path) -> Replica:
    """A replica with the agent installed: ``airshift[agent]`` against its pins."""
    env = replica(version, where)
    proc = env.install(f"{wheel}[agent]")
    assert proc.returncode == 0, proc.stderr[-2000:]
    return env


@dataclass
class Server:
    """A running Airflow web server (2.x) or API server (3.x)."""

    url: str
    home: Path
    proc: subprocess.Popen
    env: dict[str, str]

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def airflow_environ(
    env: Replica, home: Path, db_url: str, fernet_key: str, extra: Mapping[str, str]
) -> dict[str, str]:
    runtime = airflow_env.AirflowEnv(env.version, env.path)
    return runtime.environ(home, db_url, {"AIRFLOW__CORE__FERNET_KEY": fernet_key, **extra})


def _wait_ready(url: str, proc: subprocess.Popen, log: Path, seconds: float = 240) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"the Airflow server exited ({proc.returncode}):\n{log.read_text()[-4000:]}"
            )
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except urllib.error.HTTPError:
            return  # it answers
        except (urllib.error.URLError, OSError):
            time.sleep(1)
    raise RuntimeError(
        f"the Airflow server did not answer in {seconds}s:\n{log.read_text()[-4000:]}"
    )


@contextmanager
def server(
    env: Replica, home: Path, db_url: str, fernet_key: str, extra: Mapping[str, str] = {}
) -> Iterator[Server]:
    """``airflow api-server`` (3.x) or ``airflow webserver`` (2.x) on a free port."""
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    major = int(env.version.split(".")[0])
    settings = {
        "AIRFLOW__API_AUTH__JWT_SECRET": "airshift-agent-tests",
        "AIRFLOW__API__AUTH_BACKENDS": "airflow.providers.fab.auth_manager.api.auth.backend.basic_auth,"
        "airflow.providers.fab.auth_manager.api.auth.backend.session",
        "AIRFLOW__WEBSERVER__SECRET_KEY": "airshift-agent-tests",
        "AIRFLOW__WEBSERVER__WORKERS": "1",
        **extra,
    }
    environ = airflow_environ(env, home, db_url, fernet_key, settings)
    args = (
        ["api-server", "--port", str(port), "--workers", "1"]
        if major >= 3
        else ["webserver", "--port", str(port), "--workers", "1"]
    )
    log = home / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(env.path / "bin" / "airflow"), *args],
            env=environ,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    running = Server(f"http://127.0.0.1:{port}", home, proc, environ)
    try:
        _wait_ready(
            f"{running.url}/health" if major < 3 else f"{running.url}/api/v2/monitor/health",
            proc,
            log,
        )
        yield running
    finally:
        running.stop()


def simple_auth_users(home: Path, users: Mapping[str, tuple[str, str]]) -> dict[str, str]:
    """Airflow 3's simple auth manager with these users: name -> (role, password)."""
    passwords = home / "passwords.json"
    home.mkdir(parents=True, exist_ok=True)
    passwords.write_text(json.dumps({name: pw for name, (_, pw) in users.items()}))
    return {
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(
            f"{n}:{r}" for n, (r, _) in users.items()
        ),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
    }


def fab_users(
    env: Replica, home: Path, db_url: str, fernet_key: str, users: Mapping[str, tuple[str, str]]
) -> None:
    """Airflow 2's FAB users: name -> (role, password), made with Airflow's own CLI."""
    runtime = airflow_env.AirflowEnv(env.version, env.path)
    extra = {"AIRFLOW__CORE__FERNET_KEY": fernet_key}
    runtime.run(["sync-perm"], home=home, db_url=db_url, extra_env=extra)  # FAB's default roles
    for name, (role, password) in users.items():
        runtime.run(
            [
                "users",
                "create",
                "--username",
                name,
                "--password",
                password,
                "--role",
                role,
                "--firstname",
                name,
                "--lastname",
                "test",
                "--email",
                f"{name}@example.com",
            ],
            home=home,
            db_url=db_url,
            extra_env=extra,
        )


def copy_dags(src: Path, home: Path) -> None:
    shutil.copytree(
        src, home / "dags", dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__")
    )
