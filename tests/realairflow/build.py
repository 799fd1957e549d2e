"""Build real Airflow metadata databases holding real history, for tests and benchmarks.

Why: airshift's ground truth is real Airflow. This installs the real ``apache-airflow``
release (cached), lets it create its own schema with ``airflow db migrate``, and then
makes history the way production does: ``dags test``, ``dags backfill`` (2.x),
``dags trigger``, a short scheduler run (2.x), CLI-made variables, connections and pools
with Fernet-encrypted secrets, and the few rows only the UI writes (notes, an SLA miss)
through Airflow's own ORM. Nothing here imitates Airflow's schema.

Built databases are cached (PostgreSQL: a template database; MySQL: a dump; SQLite: a
file) under a key made of the Airflow version, the backend, the DAGs and HISTORY_VERSION, so
a change to the DAGs (or a bump of HISTORY_VERSION) rebuilds them. ``python -m tests.realairflow.build
VERSION BACKEND`` builds one by hand.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography.fernet import Fernet

from airshift import airflow_env, db

HERE = Path(__file__).resolve().parent
PG_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
MYSQL_SERVER = "mysql://root@127.0.0.1:3306/"

# Test data the harness writes through Airflow's CLI; tests compare the archive against it.
VARIABLES = {"lab_plain": "hello", "lab_secret_json": '{"token": "s3cr3t-value"}'}
CONNECTIONS = {
    "lab_postgres": {
        "uri": "postgresql://lab_user:lab-pass-123@db.example:5432/labdb",
        "extra": {"sslmode": "require", "api_key": "xyz-extra-secret"},
        "password": "lab-pass-123",
    },
    "lab_http": {"uri": "http://svc:pw-two@example.com:8080", "extra": None, "password": "pw-two"},
}
DAG_IDS = ["lab_retry_fail", "lab_xcom_taskflow", "lab_pool_sensor", "lab_dataset_consumer"]


@dataclass
class Fixture:
    """A built database: where its cached copy lives and what was put into it."""

    version: str
    backend: str
    key: str
    fernet_key: str
    cached: str  # template DB name, dump path, or SQLite file path
    home: str

    def info_path(self) -> Path:
        return fixtures_dir() / f"{self.key}.json"


def fixtures_dir() -> Path:
    return airflow_env.cache_dir() / "fixtures"


# Bump when make_history/make_target change what a built database holds.
HISTORY_VERSION = 1
# Bump when the light recipe (make_history(light=True)) changes.
LIGHT_VERSION = 1


def harness_hash() -> str:
    """Names a fixture's contents: the DAGs that made it and the history recipe version."""
    digest = hashlib.sha256(str(HISTORY_VERSION).encode())
    for path in sorted((HERE / "dags").rglob("*.py")):
        digest.update(path.relative_to(HERE).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def fixture_key(version: str, backend: str) -> str:
    """Names a fixture by what made it: the release, its runtime (the resolution rule's
    digest ends the runtime's name), the backend, the harness, and the cache it belongs to
    (two caches on one machine share the database servers, not their fixtures' locks)."""
    runtime = airflow_env.runtime_path(version, log=lambda _: None).name.rsplit("-", 1)[1]
    made = hashlib.sha256(f"{runtime}{airflow_env.cache_dir().resolve()}".encode())
    return f"af{version.replace('.', '_')}_{backend}_{harness_hash()}_{made.hexdigest()[:6]}"


def get_fixture(version: str, backend: str, kind: str = "history") -> Fixture:
    """The cached fixture for (version, backend), building it first when missing.

    ``kind`` "history" has real runs; "light" a few of them (the version matrix, see
    ``make_history``); "target" is a new environment that has parsed the lab DAGs and holds
    no runs, as a freshly deployed target would; "bare" has not parsed any DAG yet.
    """
    suffix = {"history": "", "light": f"_light{LIGHT_VERSION}"}.get(kind, f"_{kind}")
    key = fixture_key(version, backend) + suffix
    info = fixtures_dir() / f"{key}.json"
    lock = fixtures_dir() / f".{key}.lock"
    fixtures_dir().mkdir(parents=True, exist_ok=True)
    with airflow_env._locked(lock):
        if info.exists():
            return Fixture(**json.loads(info.read_text()))
        fixture = _build(version, backend, key, kind)
        info.write_text(json.dumps(asdict(fixture), indent=1))
        return fixture


def clone(fixture: Fixture, name: str) -> str:
    """A fresh, private copy of a fixture database, named ``name``; returns its URL."""
    if fixture.backend == "sqlite":
        path = Path(name)
        shutil.copyfile(fixture.cached, path)
        return f"sqlite:///{path}"
    if fixture.backend == "postgresql":
        db.drop_database(PG_SERVER, name)
        return db.create_database(PG_SERVER, name, template=fixture.cached)
    db.drop_database(MYSQL_SERVER, name)
    url = db.create_database(MYSQL_SERVER, name)
    with open(fixture.cached, "rb") as dump:
        subprocess.run(["mysql", "-h127.0.0.1", "-uroot", name], stdin=dump, check=True)
    return url


def _build(version: str, backend: str, key: str, kind: str) -> Fixture:
    env = airflow_env.ensure(version)
    home = fixtures_dir() / f"home_{key}"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    building = f"fxtmp_{key}"
    if backend == "sqlite":
        url = f"sqlite:///{home / 'airflow.db'}"
    elif backend == "postgresql":
        db.drop_database(PG_SERVER, building)
        url = db.create_database(PG_SERVER, building)
    else:
        db.drop_database(MYSQL_SERVER, building)
        url = db.create_database(MYSQL_SERVER, building)
    fernet_key = Fernet.generate_key().decode()
    if kind in ("history", "light"):
        shutil.copytree(HERE / "dags", home / "dags", ignore=shutil.ignore_patterns("__pycache__"))
        make_history(env, home, url, fernet_key, light=kind == "light")
    else:
        make_target(version, url, home, fernet_key, parse=kind == "target")
    if backend == "sqlite":
        cached = str(home / "airflow.db")
    elif backend == "postgresql":
        db.drop_database(PG_SERVER, f"fx_{key}")
        db.create_database(PG_SERVER, f"fx_{key}", template=building)
        db.drop_database(PG_SERVER, building)
        cached = f"fx_{key}"
    else:
        cached = str(fixtures_dir() / f"{key}.sql")
        with open(cached, "wb") as out:
            subprocess.run(["mysqldump", "-h127.0.0.1", "-uroot", building], stdout=out, check=True)
        db.drop_database(MYSQL_SERVER, building)
    return Fixture(version, backend, key, fernet_key, cached, str(home))


def make_history(
    env: airflow_env.AirflowEnv, home: Path, url: str, fernet_key: str, light: bool = False
) -> None:
    """Run real DAGs and CLI commands against ``url`` so it holds production-like history.

    ``light``: only what the version matrix checks, in a fraction of the time: the
    variables, connections and pool, one run of ``lab_retry_fail`` (a task that fails once
    and succeeds on its retry, one that fails both tries), one of ``lab_xcom_taskflow``
    (XComs, a mapped task, an asset event) and a queued run with a conf.
    """
    is2 = env.major == 2
    base = {
        "AIRFLOW__CORE__FERNET_KEY": fernet_key,
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "5",
        # The lab DAGs import their shared `_compat` module from the DAGs folder; Airflow
        # 3.0's CLI (`dags reserialize`, `dags test`) does not put that folder on sys.path.
        "PYTHONPATH": str(home / "dags"),
        "AIRFLOW__CORE__EXECUTOR": "SequentialExecutor"
        if is2 and url.startswith("sqlite")
        else "LocalExecutor",
    }

    def af(*args: str, extra: dict[str, str] | None = None, fails: bool = False) -> None:
        """Run the CLI; ``fails`` marks runs that end failed on purpose (exit 1)."""
        t0 = time.monotonic()
        proc = env.run(
            list(args), home=home, db_url=url, extra_env=base | (extra or {}), check=not fails
        )
        expected = ("DagRun failed", "BackfillUnfinished")
        if (
            fails
            and proc.returncode != 0
            and not any(m in proc.stdout + proc.stderr for m in expected)
        ):
            raise RuntimeError(
                f"airflow {' '.join(args)} failed unexpectedly:\n{proc.stderr[-3000:]}"
            )
        print(f"  airflow {' '.join(args)[:70]} ({time.monotonic() - t0:.1f}s)", file=sys.stderr)

    af("db", "migrate")
    for key, value in VARIABLES.items():
        af("variables", "set", key, value)
    for conn_id, spec in CONNECTIONS.items():
        extra = ["--conn-extra", json.dumps(spec["extra"])] if spec["extra"] else []
        af("connections", "add", conn_id, "--conn-uri", spec["uri"], *extra)
    af("pools", "set", "lab_pool", "4", "pool for the lab DAGs")
    af("dags", "reserialize")
    if light:
        _light_runs(af, is2)
        return
    # Before 2.10, `dags test` never ends on a task that fails with retries left (it
    # re-runs it forever); those versions get their failed tries from the backfill only.
    retry_in_dags_test = env.major >= 3 or tuple(map(int, env.version.split(".")[:2])) >= (2, 10)
    for dag_id in ("lab_retry_fail", "lab_xcom_taskflow", "lab_pool_sensor"):
        if dag_id != "lab_retry_fail" or retry_in_dags_test:
            af("dags", "test", dag_id, "2024-02-01", fails=dag_id == "lab_retry_fail")
    if is2:
        # Pickled XComs: only Airflow 2 can write them; Airflow 3 cannot read them.
        af(
            "dags",
            "test",
            "lab_xcom_taskflow",
            "2024-02-02",
            extra={"AIRFLOW__CORE__ENABLE_XCOM_PICKLING": "True"},
        )
        _backfill_2x(af, "2024-01-02")
    else:
        af(
            "backfill",
            "create",
            "--dag-id",
            "lab_retry_fail",
            "--from-date",
            "2024-01-01",
            "--to-date",
            "2024-01-02",
        )
    af(
        "dags",
        "trigger",
        "lab_pool_sensor",
        "--conf",
        json.dumps({"n": 1, "lab": "conf", "nested": {"list": [1, 2]}}),
    )
    if is2:
        for dag_id in ("lab_xcom_taskflow", "lab_dataset_consumer", "lab_pool_sensor"):
            af("dags", "unpause", dag_id)
        _run_for(env, home, url, base, ["scheduler"], seconds=45)
    _ui_only_rows(env, home, url, base)


def _backfill_2x(af: Callable[..., None], last_day: str) -> None:
    """Airflow 2's backfill of ``lab_retry_fail`` from 2024-01-01 to ``last_day``, with the
    sequential executor: 2.10's backfill with LocalExecutor can die on a race (KeyError in
    _per_task_process), which would make fixture builds flaky."""
    af(
        "dags",
        "backfill",
        "lab_retry_fail",
        "-s",
        "2024-01-01",
        "-e",
        last_day,
        fails=True,
        extra={"AIRFLOW__CORE__EXECUTOR": "SequentialExecutor"},
    )


def _light_runs(af: Callable[..., None], is2: bool) -> None:
    """The light recipe's runs: the same path on every 2.x (backfill with the sequential
    executor, whose failed tries 2.10+ keep in task_instance_history and older releases in
    task_fail), ``dags test`` on 3.x."""
    if is2:
        _backfill_2x(af, "2024-01-01")
    else:
        af("dags", "test", "lab_retry_fail", "2024-01-01", fails=True)
    af("dags", "test", "lab_xcom_taskflow", "2024-02-01")
    af("dags", "trigger", "lab_pool_sensor", "--conf", json.dumps({"lab": "light"}))
    af("dags", "unpause", "lab_xcom_taskflow")  # a pause state that differs between DAGs


def probe(fixture_or_version: Fixture | str, url: str, home: Path, fernet_key: str) -> dict:
    """What the real Airflow of that version reads from ``url`` (see probe.py)."""
    version = (
        fixture_or_version if isinstance(fixture_or_version, str) else fixture_or_version.version
    )
    env = airflow_env.ensure(version)
    out = env.run(
        ["python", str(HERE / "probe.py")],
        home=home,
        db_url=url,
        extra_env={"AIRFLOW__CORE__FERNET_KEY": fernet_key},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def make_target(
    version: str, url: str, home: Path, fernet_key: str, parse: bool = True
) -> airflow_env.AirflowEnv:
    """A new, empty environment as its own Airflow makes it (``db migrate``), optionally
    having parsed the lab DAGs already (``dags reserialize``), as a live target would."""
    env = airflow_env.ensure(version)
    shutil.copytree(
        HERE / "dags",
        home / "dags",
        ignore=shutil.ignore_patterns("__pycache__"),
        dirs_exist_ok=True,
    )
    extra = {"AIRFLOW__CORE__FERNET_KEY": fernet_key}
    env.run(["db", "migrate"], home=home, db_url=url, extra_env=extra)
    if parse:
        env.run(["dags", "reserialize"], home=home, db_url=url, extra_env=extra)
    return env


def stop(proc: subprocess.Popen) -> None:
    """Stop a long-running Airflow command the way an operator would: SIGTERM, then
    SIGKILL after 30 s."""
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _run_for(
    env, home: Path, url: str, base: dict[str, str], args: list[str], seconds: int
) -> None:
    """Run a long-lived Airflow command for a while, then stop it the way an operator would."""
    proc = subprocess.Popen(
        [str(env.path / "bin" / "airflow"), *args],
        env=env.environ(home, url, base),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(seconds)
    stop(proc)
    print(f"  airflow {' '.join(args)} for {seconds}s", file=sys.stderr)


_UI_ROWS = r"""
import sys
from datetime import datetime, timezone
from airflow.utils.session import create_session
from airflow.models.dagrun import DagRun, DagRunNote
from airflow.models.taskinstance import TaskInstance, TaskInstanceNote
for fab_models in ("airflow.providers.fab.auth_manager.models", "airflow.auth.managers.fab.models"):
    try:  # Airflow 2's notes reference ab_user; its model must be known to the ORM
        __import__(fab_models)
        break
    except ImportError:
        pass
with create_session() as session:
    run = session.query(DagRun).filter(DagRun.dag_id == "lab_retry_fail").order_by(DagRun.id).first()
    run_note = DagRunNote(content="run note from the lab")
    run_note.dag_run_id = run.id
    session.add(run_note)
    ti = session.query(TaskInstance).filter(TaskInstance.dag_id == run.dag_id, TaskInstance.run_id == run.run_id).first()
    note = TaskInstanceNote(content="task note from the lab")
    if hasattr(TaskInstanceNote, "ti_id"):
        note.ti_id = ti.id
    else:
        note.dag_id, note.task_id, note.run_id, note.map_index = ti.dag_id, ti.task_id, ti.run_id, ti.map_index
    session.add(note)
    try:
        from airflow.models.slamiss import SlaMiss
    except ImportError:
        SlaMiss = None
    if SlaMiss is not None:
        session.add(SlaMiss(task_id="ok", dag_id="lab_retry_fail", execution_date=datetime(2024, 1, 1, tzinfo=timezone.utc), email_sent=False, notification_sent=False, description="lab sla miss"))
"""


def _ui_only_rows(env, home: Path, url: str, base: dict[str, str]) -> None:
    script = home / "ui_rows.py"
    script.write_text(_UI_ROWS)
    env.run(["python", str(script)], home=home, db_url=url, extra_env=base)


if __name__ == "__main__":
    fx = get_fixture(sys.argv[1], sys.argv[2])
    print(json.dumps(asdict(fx), indent=1))
