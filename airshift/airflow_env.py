"""Cached virtualenvs of real Airflow releases, and running their CLI.

Why: airshift never imitates Airflow's schema. It runs Airflow's own migrations (and the
tests run real DAGs) with the real ``apache-airflow`` package of the needed version, each
installed once into its own virtualenv under the cache folder. ``AIRSHIFT_CACHE`` moves the
cache; ``AIRSHIFT_AIRFLOW_VENVS="2.10.5=/opt/af2,3.3.2=/opt/af3"`` (or ``--airflow-venv``)
points at environments installed by hand, for machines without a package index.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from airshift.errors import AirshiftError

_COMPLETE_MARKER = ".airshift-complete"
_overrides: dict[str, Path] = {}


def cache_dir() -> Path:
    """Where airshift keeps virtualenvs and other reusable downloads."""
    return Path(os.environ.get("AIRSHIFT_CACHE") or Path.home() / ".cache" / "airshift")


def register_venv(spec: str) -> None:
    """Use an existing virtualenv for a version: ``VERSION=PATH`` (the --airflow-venv option)."""
    version, sep, path = spec.partition("=")
    if not sep or not version or not path:
        raise AirshiftError(f"--airflow-venv takes VERSION=PATH, got {spec!r}.")
    _overrides[version.strip()] = Path(path).expanduser()


def _env_overrides() -> dict[str, Path]:
    found = {}
    for spec in filter(None, os.environ.get("AIRSHIFT_AIRFLOW_VENVS", "").split(",")):
        version, _, path = spec.partition("=")
        found[version.strip()] = Path(path.strip()).expanduser()
    return found | _overrides


def requirements_for(version: str, extras: Sequence[str] = ()) -> list[str]:
    """Packages for one Airflow version: the DB drivers its CLI needs on every backend."""
    reqs = [f"apache-airflow=={version}", "psycopg2-binary", "pymysql"]
    if int(version.split(".")[0]) >= 3:
        reqs += ["asyncpg", "aiomysql"]  # Airflow 3 opens async engines at start-up
    return reqs + list(extras)


def airflow_sql_url(url: str) -> str:
    """The URL as the Airflow CLI in a venv must see it: with the drivers installed there."""
    parsed = make_url(url)
    driver = {"postgresql": "postgresql+psycopg2", "mysql": "mysql+pymysql"}.get(
        parsed.get_backend_name()
    )
    if driver:
        parsed = parsed.set(drivername=driver)
    return parsed.render_as_string(hide_password=False)


@dataclass(frozen=True)
class AirflowEnv:
    """One installed Airflow release; ``run`` calls its CLI against a chosen database."""

    version: str
    path: Path

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    def environ(
        self, home: Path, db_url: str | None = None, extra: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """Environment for an Airflow process: its own home, no examples, the given DB."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("AIRFLOW") and k not in ("VIRTUAL_ENV", "PYTHONPATH")
        }
        env |= {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "PATH": f"{self.path / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        }
        if db_url:
            env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = airflow_sql_url(db_url)
        return env | dict(extra or {})

    def run(
        self,
        args: Sequence[str],
        home: Path,
        db_url: str | None = None,
        extra_env: Mapping[str, str] | None = None,
        timeout: float | None = 900,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``airflow ARGS`` (or ``python ARGS`` when args[0] == "python")."""
        home.mkdir(parents=True, exist_ok=True)
        cmd = (
            [str(self.python), *args[1:]]
            if args[0] == "python"
            else [str(self.path / "bin" / "airflow"), *args]
        )
        proc = subprocess.run(
            cmd,
            env=self.environ(home, db_url, extra_env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
            raise AirshiftError(
                f"Airflow {self.version} failed running `{' '.join(args)}` (exit {proc.returncode}):\n{tail}"
            )
        return proc


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _extras_name(extras: Sequence[str]) -> str:
    """Names a venv by its extra packages and a hash of their exact specs, so that a changed
    pin gets a venv of its own instead of silently reusing a stale one."""
    names = sorted(re.split(r"[<>=!~\[; ]", e, maxsplit=1)[0] for e in extras)
    digest = hashlib.sha256("\n".join(sorted(extras)).encode()).hexdigest()[:8]
    return "-".join(names)[:80] + f"-{digest}"


def is_installed(version: str) -> bool:
    return (
        version in _env_overrides()
        or (cache_dir() / "venvs" / f"apache-airflow-{version}" / _COMPLETE_MARKER).exists()
    )


def prefer_installed(candidates: Sequence[str]) -> str:
    """Of equivalent releases (same schema head), one already installed, else the newest."""
    return next((v for v in reversed(candidates) if is_installed(v)), candidates[-1])


def ensure(version: str, extras: Sequence[str] = (), log=print) -> AirflowEnv:
    """Return an installed Airflow ``version``, installing it into the cache on first use.

    ``extras`` are further requirements (a provider, say); they get their own venv so that
    the plain one stays exactly what a default install of that release is.
    """
    override = _env_overrides().get(version)
    if override:
        if not (override / "bin" / "airflow").exists():
            raise AirshiftError(f"--airflow-venv {version}={override}: no bin/airflow there.")
        return AirflowEnv(version, override)
    suffix = "" if not extras else "-" + _extras_name(extras)
    path = cache_dir() / "venvs" / f"apache-airflow-{version}{suffix}"
    with _locked(cache_dir() / "venvs" / f".{path.name}.lock"):
        if not (path / _COMPLETE_MARKER).exists():
            _install(path, requirements_for(version, extras), log)
            (path / _COMPLETE_MARKER).write_text(version)
    return AirflowEnv(version, path)


def _install(path: Path, requirements: list[str], log) -> None:
    shutil.rmtree(path, ignore_errors=True)
    log(f"installing {' '.join(requirements)} into {path} (once; it is cached)")
    uv = shutil.which("uv")
    if uv:
        steps = [
            [uv, "venv", "-q", "-p", sys.executable, str(path)],
            [uv, "pip", "install", "-q", "--python", str(path / "bin" / "python"), *requirements],
        ]
    else:
        steps = [
            [sys.executable, "-m", "venv", str(path)],
            [str(path / "bin" / "pip"), "install", "-q", *requirements],
        ]
    for cmd in steps:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            shutil.rmtree(path, ignore_errors=True)
            raise AirshiftError(
                f"Could not install {' '.join(requirements)}: {proc.stderr.strip()[-2000:]}"
            )
