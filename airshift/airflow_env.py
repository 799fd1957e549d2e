"""Cached virtualenvs of real Airflow releases, and running their CLI.

Why: airshift never imitates Airflow's schema. It runs Airflow's own migrations (and the
tests run real DAGs) with the real ``apache-airflow`` package of the needed version, each
installed once into its own virtualenv under the cache folder, its dependencies resolved as
of the release's date (``airshift.runtimes.releases``: the way it was tested, not with
whatever is newest today). ``AIRSHIFT_CACHE`` moves the cache; ``AIRSHIFT_AIRFLOW_VENVS="2.10.5=/opt/af2,3.3.2=/opt/af3"`` (or ``--airflow-venv``)
points at environments installed by hand, for machines without a package index.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from packaging.version import InvalidVersion, Version
from sqlalchemy.engine import make_url

from airshift import backends
from airshift.errors import AirflowCommandFailed, AirshiftError
from airshift.runtimes import releases, venv

Log = Callable[[str], object]
_overrides: dict[str, Path] = {}
# Airflow's own CLI, started ahead (``AirflowEnv.ahead``): imports what ``airflow db ...``
# needs, then waits for one line on stdin; "go" runs the command, anything else (stdin
# closed: the caller gave up or died) ends it having run nothing. Modules a release lacks
# are left to the command to import as it would (``airflow.models.log``: the CLI's audit
# row, a second of imports). Then, until "go" comes, what the command would do first once
# started: import Airflow's models and configure their mappers (for the CLI's audit row),
# import the modules its migration loads (Airflow 3's external database managers): 0.7 s
# of CPU in a cutover delta's 2 s migration. Should any of that fail where the command
# itself might not (another release, another order of imports), "go" runs the command in
# a fresh interpreter, as if nothing had been started. A command that succeeds ends
# without the interpreter's teardown (Airflow's exit handlers and collecting its objects
# took a second of a cutover's downtime): what it wrote is committed, its output flushed.
_AHEAD = """
import importlib, logging, os, select, sys


def told():
    return bool(select.select([sys.stdin], [], [], 0)[0])


def load(*names):
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError:
            pass


def configure():
    from airflow.models import import_all_models
    import_all_models()
    from sqlalchemy.orm import configure_mappers
    configure_mappers()


steps = [
    lambda: load("airflow.__main__", "airflow.cli.cli_parser", "airflow.cli.commands.db_command",
                 "airflow.utils.db", "airflow.models.log", "alembic.command"),
    configure,
    lambda: load("airflow.api_fastapi.app"),
    lambda: load("airflow.dag_processing.dagbag"),
]
fresh = False
try:
    for step in steps:
        step()
        if told():
            break
except Exception:
    fresh = True
if sys.stdin.readline().strip() != "go":
    sys.exit(0)
if fresh:
    os.execv(sys.executable, [sys.executable, "-m", "airflow", *sys.argv[1:]])
from airflow.__main__ import main
sys.argv = ["airflow", *sys.argv[1:]]
main()
logging.shutdown()
sys.stdout.flush()
sys.stderr.flush()
os._exit(0)
"""
_confined: list[AirflowEnv] = []


def cache_dir() -> Path:
    """Where airshift keeps virtualenvs and other reusable downloads."""
    return Path(os.environ.get("AIRSHIFT_CACHE") or Path.home() / ".cache" / "airshift")


def register_venv(spec: str) -> None:
    """Use an existing virtualenv for a version: ``VERSION=PATH`` (the --airflow-venv option)."""
    version, sep, path = spec.partition("=")
    if not sep or not version or not path:
        raise AirshiftError(f"--airflow-venv takes VERSION=PATH, got {spec!r}.")
    _overrides[version.strip()] = Path(path).expanduser()


def confine(env: AirflowEnv) -> None:
    """Run every Airflow migration of this process with ``env``: the agent's job, inside an
    environment, uses the environment's own Airflow and installs no other release."""
    _confined[:] = [env]


def confined() -> AirflowEnv | None:
    """The one Airflow this process may run (``confine``), or None: any release, installed
    into the cache when needed."""
    return _confined[0] if _confined else None


def _env_overrides() -> dict[str, Path]:
    found = {}
    for spec in filter(None, os.environ.get("AIRSHIFT_AIRFLOW_VENVS", "").split(",")):
        version, _, path = spec.partition("=")
        found[version.strip()] = Path(path.strip()).expanduser()
    return found | _overrides


def requirements_for(version: str, extras: Sequence[str] = ()) -> list[str]:
    """Packages for one Airflow version: the DB drivers its CLI needs on every backend, and
    the limits a few releases need beyond their release date (``releases.LIMITS``)."""
    reqs = [f"apache-airflow=={version}", "psycopg2-binary", "pymysql"]
    if int(version.split(".")[0]) >= 3:
        reqs += ["asyncpg", "aiomysql"]  # Airflow 3 opens async engines at start-up
    return reqs + list(releases.LIMITS.get(version, ())) + list(extras)


def airflow_sql_url(url: str) -> str:
    """The URL as the Airflow CLI in a venv must see it: with the drivers installed there."""
    parsed = make_url(url)
    backend = backends.named(parsed.get_backend_name())
    if backend and backend.airflow_driver:
        parsed = parsed.set(drivername=backend.airflow_driver)
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
        if check:
            self._check(args, proc)
        return proc

    def _check(self, args: Sequence[str], proc: subprocess.CompletedProcess[str]) -> None:
        if proc.returncode != 0:
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
            raise AirflowCommandFailed(
                f"Airflow {self.version} failed running `{' '.join(args)}` (exit {proc.returncode}):\n{tail}",
                f"{proc.stdout}\n{proc.stderr}",
            )

    @contextmanager
    def ahead(self, args: Sequence[str], home: Path, db_url: str) -> Iterator[Ahead]:
        """``airflow ARGS`` started now and run on ``Ahead.run()``.

        Why: an Airflow process spends seconds importing Airflow before it runs anything,
        which for a migration of a few rows (a cutover's delta) is most of its time. Started
        ahead, those seconds overlap whatever the caller does before the command may run
        (loading the rows it migrates). Never run, it ends on leaving this block."""
        home.mkdir(parents=True, exist_ok=True)
        script = home / "airshift_ahead.py"
        script.write_text(_AHEAD)
        proc = subprocess.Popen(
            [str(self.python), str(script), *args],
            env=self.environ(home, db_url),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            yield Ahead(self, list(args), proc)
        finally:
            if proc.returncode is None:  # not run to its end: nothing of it is wanted
                proc.kill()
                proc.communicate()


@dataclass(frozen=True)
class Ahead:
    """An Airflow CLI command started ahead of its use (``AirflowEnv.ahead``)."""

    env: AirflowEnv
    args: list[str]
    proc: subprocess.Popen[str]

    def run(self, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        """Let it run now; its output, or an AirshiftError as ``AirflowEnv.run`` gives."""
        out, err = self.proc.communicate("go\n", timeout=timeout)
        done = subprocess.CompletedProcess(self.proc.args, self.proc.returncode, out, err)
        self.env._check(self.args, done)
        return done


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _runtime_name(version: str, extras: Sequence[str], digest: str) -> str:
    """``apache-airflow-VERSION[-EXTRAS]-DIGEST``: readable, and new whenever the rule, the
    cut-off, the requirements or the Python change, so a stale runtime is never reused."""
    names = sorted(re.split(r"[<>=!~\[; ]", e, maxsplit=1)[0] for e in extras)
    middle = ("-" + "-".join(names)[:80]) if names else ""
    return f"apache-airflow-{version}{middle}-{digest}"


def runtime_path(version: str, extras: Sequence[str] = (), log: Log = print) -> Path:
    """Where the runtime of ``version`` (+ ``extras``) lives in the cache, by today's rule."""
    resolution = releases.resolve(version, note=log)
    digest = resolution.digest(requirements_for(version, extras), venv.python_tag())
    return cache_dir() / "venvs" / _runtime_name(version, extras, digest)


def is_installed(version: str) -> bool:
    if version in _env_overrides():
        return True
    try:
        return venv.read(runtime_path(version, log=lambda _: None)).complete
    except AirshiftError:
        return False


def prefer_installed(candidates: Sequence[str]) -> str:
    """Of equivalent releases (same schema head), one already installed, else the newest."""
    return next((v for v in reversed(candidates) if is_installed(v)), candidates[-1])


def ensure(version: str, extras: Sequence[str] = (), log: Log = print) -> AirflowEnv:
    """Return an installed Airflow ``version``, installing it into the cache on first use.

    Its dependencies are resolved as of the release (``runtimes.releases``). ``extras`` are
    further requirements (a provider, say); they get their own runtime so that the plain one
    stays exactly what a default install of that release is.
    """
    override = _env_overrides().get(version)
    if override:
        if not (override / "bin" / "airflow").exists():
            raise AirshiftError(f"--airflow-venv {version}={override}: no bin/airflow there.")
        return AirflowEnv(version, override)
    path = runtime_path(version, extras, log)
    with _locked(cache_dir() / "venvs" / f".{path.name}.lock"):
        if not venv.read(path).complete:
            venv.install(
                path,
                requirements_for(version, extras),
                releases.resolve(version),
                exempt=venv.exempt_extras(extras),
                log=log,
            )
        venv.ensure_bytecode(path)
    return AirflowEnv(version, path)


def install_from(version: str, wheelhouse: Path, log: Log = print) -> AirflowEnv:
    """Install the plain runtime of ``version`` from a wheelhouse made by :func:`download`,
    with no index at all (air-gapped machines). It gets the same name as an index install
    by the same rule, so every command finds it."""
    spec = venv.wheelhouse_spec(wheelhouse)
    if spec["version"] != version:
        raise AirshiftError(
            f"The wheelhouse {wheelhouse} holds Airflow {spec['version']}, not {version}."
        )
    resolution = releases.Resolution(version, releases.parse_time(spec["uploaded"]), from_data=True)
    if resolution.rule != spec["rule"]:
        raise AirshiftError(
            f"The wheelhouse {wheelhouse} was resolved by the rule {spec['rule']!r}; this airshift "
            f"uses {resolution.rule!r}. Make it again with this airshift's `runtimes download`."
        )
    digest = resolution.digest(spec["requirements"], venv.python_tag())
    path = cache_dir() / "venvs" / _runtime_name(version, (), digest)
    with _locked(cache_dir() / "venvs" / f".{path.name}.lock"):
        venv.install(path, spec["requirements"], resolution, wheelhouse=wheelhouse, log=log)
    return AirflowEnv(version, path)


def download(version: str, dest: Path, log: Log = print) -> dict:
    """A wheelhouse in ``dest`` for the plain runtime of ``version``, for :func:`install_from`."""
    return venv.download(
        requirements_for(version), releases.resolve(version, note=log), dest, log=log
    )


def installed() -> list[venv.Runtime]:
    """Every runtime folder in the cache, complete or not, newest version first."""
    root = cache_dir() / "venvs"
    found = (
        [venv.read(p) for p in root.glob("apache-airflow-*") if p.is_dir()] if root.exists() else []
    )
    return sorted(found, key=lambda r: (_sort_key(r.version), r.path.name), reverse=True)


def _sort_key(version: str) -> tuple:
    try:
        return (1, Version(version))
    except InvalidVersion:
        return (0, version)


def remove(version: str) -> list[venv.Runtime]:
    """Delete every cached runtime of ``version`` (plain and with extras); returns them."""
    gone = [r for r in installed() if r.version == version]
    for runtime in gone:
        with _locked(cache_dir() / "venvs" / f".{runtime.path.name}.lock"):
            shutil.rmtree(runtime.path, ignore_errors=True)
    return gone
