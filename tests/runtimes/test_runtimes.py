"""Airflow runtimes resolve as of their release, on a fresh cache, and can be installed offline.

Why these tests: a warm cache hid that an unpinned install of Airflow 2 had become broken
(a newer ``cryptography``); every new user met it first. Here each runtime is installed cold
into a temporary cache with the real rule, and then does what broke: Fernet round trips
through Airflow's own code, and ``airflow db migrate`` on SQLite.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from airshift import airflow_env, db, versions
from airshift.errors import AirshiftError
from airshift.runtimes import releases, venv

FERNET_KEY = "x2SDzGDu1Tw2-HEVmpRZTiAQ0wsFOJkpq89TZRwl0yo="  # a test key, not a secret

ROUND_TRIP = """
from airflow.models.crypto import get_fernet
fernet = get_fernet()
token = fernet.encrypt(b"s3cr3t")
assert fernet.decrypt(token) == b"s3cr3t"
assert getattr(fernet, "is_encrypted", True)
print("fernet-ok")
"""


def _airshift(*args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "airshift", *args],
        env=env,
        capture_output=True,
        text=True,
        check=check,
        timeout=1800,
    )


@pytest.fixture
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """An empty AIRSHIFT_CACHE for this process and its children."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("AIRSHIFT_CACHE", str(cache))
    return os.environ | {"AIRSHIFT_CACHE": str(cache)}


@pytest.mark.parametrize("version", ["2.10.5", "3.3.2"])
def test_cold_runtime_is_pinned_and_works(version: str, fresh_cache, tmp_path: Path) -> None:
    listed = _airshift("runtimes", "list", "--json", env=fresh_cache)
    assert json.loads(listed.stdout)["runtimes"] == []
    assert _airshift("runtimes", "path", version, env=fresh_cache, check=False).returncode == 1

    installed = json.loads(
        _airshift("runtimes", "install", version, "--json", env=fresh_cache).stdout
    )
    assert installed["state"] == "complete" and installed["version"] == version
    assert installed["rule"] == releases.RULE
    assert installed["cutoff"] == releases.resolve(version).cutoff_text
    assert installed["source"] == "index"

    env = airflow_env.ensure(version)
    assert str(env.path) == installed["path"]  # the command and the library agree
    stamp = venv.read(env.path).stamp
    assert stamp is not None and stamp["packages"]["apache-airflow"] == version
    site = next((env.path / "lib").glob("python*/site-packages"))
    assert stamp[venv.BYTECODE] and list((site / "airflow" / "__pycache__").glob("*.pyc"))

    home = tmp_path / "home"
    db = f"sqlite:///{tmp_path / 'airflow.db'}"
    fernet = {"AIRFLOW__CORE__FERNET_KEY": FERNET_KEY}
    env.run(["db", "migrate"], home=home, db_url=db, extra_env=fernet)
    assert (
        "fernet-ok"
        in env.run(["python", "-c", ROUND_TRIP], home=home, db_url=db, extra_env=fernet).stdout
    )
    # The path that broke for every new user: a connection's password through Airflow's Fernet.
    env.run(
        ["connections", "add", "rt", "--conn-uri", "postgresql://u:pw-1@h:5432/d"],
        home=home,
        db_url=db,
        extra_env=fernet,
    )
    shown = env.run(
        ["connections", "get", "rt", "-o", "json"], home=home, db_url=db, extra_env=fernet
    )
    assert "pw-1" in shown.stdout

    assert _airshift("runtimes", "path", version, env=fresh_cache).stdout.strip() == str(env.path)


def test_runtime_made_without_bytecode_is_compiled_once(tmp_path: Path) -> None:
    """A runtime installed before runtimes carried their bytecode gets it on its next use:
    with PYTHONDONTWRITEBYTECODE set (as here), every Airflow process compiled all its
    modules again."""
    runtime = tmp_path / "apache-airflow-9.9.9-x"
    (runtime / "bin").mkdir(parents=True)
    (runtime / "bin" / "python").symlink_to(sys.executable)
    (runtime / "lib" / "pkg").mkdir(parents=True)
    (runtime / "lib" / "pkg" / "mod.py").write_text("VALUE = 1\n")
    (runtime / venv.STAMP).write_text(json.dumps({"version": "9.9.9", "packages": {}}))
    venv.ensure_bytecode(runtime)
    assert list((runtime / "lib" / "pkg" / "__pycache__").glob("mod.*.pyc"))
    stamp = venv.read(runtime).stamp
    assert stamp == {"version": "9.9.9", "packages": {}, venv.BYTECODE: True}
    (runtime / "lib" / "pkg" / "__pycache__").rename(tmp_path / "moved")
    venv.ensure_bytecode(runtime)  # marked: not compiled again
    assert not (runtime / "lib" / "pkg" / "__pycache__").exists()


def test_rule_is_part_of_the_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """A runtime made by another rule or cut-off is never reused: both are in its name."""
    first = airflow_env.runtime_path("2.10.5")
    today = releases.resolve("2.10.5")
    reqs, python = airflow_env.requirements_for("2.10.5"), venv.python_tag()
    other_rule = releases.Resolution("2.10.5", today.uploaded, True, rule="another-rule")
    assert other_rule.digest(reqs, python) != today.digest(reqs, python)
    assert first.name.endswith(today.digest(reqs, python))
    monkeypatch.setattr(releases, "MARGIN", releases.MARGIN * 2)
    assert airflow_env.runtime_path("2.10.5") != first


def test_a_release_limit_is_installed_and_part_of_the_name(monkeypatch) -> None:
    """2.8.1 as of its release date gets Flask-Session 0.6, which breaks it: its limit is
    installed with it, and a runtime made without the limit is not reused."""
    assert "flask-session<0.6" in airflow_env.requirements_for("2.8.1")
    limited = airflow_env.runtime_path("2.8.1")
    monkeypatch.setattr(releases, "LIMITS", {})
    assert airflow_env.runtime_path("2.8.1") != limited


def test_legacy_runtime_is_listed_and_not_reused(fresh_cache) -> None:
    legacy = airflow_env.cache_dir() / "venvs" / "apache-airflow-2.10.5"
    (legacy / "bin").mkdir(parents=True)
    (legacy / venv.LEGACY_MARKER).write_text("2.10.5")
    assert not airflow_env.is_installed("2.10.5")
    rows = json.loads(_airshift("runtimes", "list", "--json", env=fresh_cache).stdout)["runtimes"]
    assert [(r["version"], r["state"]) for r in rows] == [("2.10.5", "legacy")]
    removed = json.loads(
        _airshift("runtimes", "remove", "2.10.5", "--json", env=fresh_cache).stdout
    )
    assert removed["removed"] == [str(legacy)] and not legacy.exists()
    assert _airshift("runtimes", "remove", "2.10.5", env=fresh_cache, check=False).returncode == 1


def test_release_newer_than_the_data_is_looked_up_with_a_note(monkeypatch) -> None:
    """The newest shipped release, pretended unknown, resolves from the index to the same cut-off."""
    newest = list(releases.shipped())[-1]
    expected = releases.resolve(newest)
    monkeypatch.setattr(releases, "shipped", lambda: {})
    notes: list[str] = []
    looked_up = releases.resolve(newest, note=notes.append)
    assert looked_up.cutoff == expected.cutoff and not looked_up.from_data
    assert len(notes) == 1 and "newer than airshift's release data" in notes[0]


def test_unknown_release_is_refused_not_installed_unpinned(fresh_cache) -> None:
    proc = _airshift("runtimes", "install", "2.99.0", env=fresh_cache, check=False)
    assert proc.returncode == 2
    assert "2.99.0 is not on" in proc.stderr and "Traceback" not in proc.stderr
    assert not any((airflow_env.cache_dir() / "venvs").glob("apache-airflow-2.99.0*"))


def test_wheelhouse_installs_with_no_index(fresh_cache, tmp_path: Path) -> None:
    """download on a connected machine, install where no index answers (pip/uv --no-index)."""
    version = "2.10.5"
    house = tmp_path / "wheelhouse"
    spec = json.loads(
        _airshift(
            "runtimes", "download", version, "--to", str(house), "--json", env=fresh_cache
        ).stdout
    )
    assert spec["wheels"] and not list(house.glob("*.tar.gz"))
    offline = fresh_cache | {
        "UV_INDEX_URL": "http://127.0.0.1:9/simple",  # nothing listens there
        "UV_CACHE_DIR": str(tmp_path / "empty-uv-cache"),  # no cached wheels to fall back on
        "UV_OFFLINE": "1",
    }
    installed = json.loads(
        _airshift(
            "runtimes", "install", version, "--from", str(house), "--json", env=offline
        ).stdout
    )
    assert installed["source"] == f"wheelhouse {house}"
    # The offline runtime is the one every command uses: same name as an index install.
    assert installed["path"] == str(airflow_env.runtime_path(version))
    env = airflow_env.ensure(version)
    assert (
        "fernet-ok"
        in env.run(
            ["python", "-c", ROUND_TRIP],
            home=tmp_path / "home",
            extra_env={"AIRFLOW__CORE__FERNET_KEY": FERNET_KEY},
        ).stdout
    )


def test_a_command_started_ahead_runs_when_told_and_never_when_not(tmp_path: Path) -> None:
    """``AirflowEnv.ahead``: the real CLI, imported ahead, runs its command on ``run()``
    (a failure reads as ``run``'s does); left unrun, it ends having touched nothing."""
    env = airflow_env.ensure("3.3.2")
    untouched = tmp_path / "untouched.db"
    with env.ahead(["db", "migrate"], tmp_path / "h1", f"sqlite:///{untouched}") as ahead:
        assert ahead.proc.poll() is None  # importing, or waiting for its turn
    assert ahead.proc.returncode is not None and not untouched.exists()

    with env.ahead(["version"], tmp_path / "h2", f"sqlite:///{tmp_path / 'v.db'}") as ahead:
        assert ahead.run().stdout.strip().splitlines()[-1] == "3.3.2"

    bad = env.ahead(["no-such-command"], tmp_path / "h3", f"sqlite:///{tmp_path / 'x.db'}")
    with bad as ahead, pytest.raises(AirshiftError, match="failed running `no-such-command`"):
        ahead.run()


def _waiting(pid: int, timeout: float = 180) -> None:
    """Until process ``pid`` has used no CPU for a second: done with what it does before
    it reads its stdin."""
    stat = Path(f"/proc/{pid}/stat")
    used, quiet, deadline = -1, 0, time.monotonic() + timeout
    while quiet < 4:
        assert time.monotonic() < deadline, "the command started ahead never settled"
        fields = stat.read_text().rsplit(")", 1)[1].split()
        now = int(fields[11]) + int(fields[12])  # utime + stime
        quiet = quiet + 1 if now == used else 0
        used = now
        time.sleep(0.25)


def test_a_migration_started_ahead_that_prepared_everything_it_could_runs_as_the_cli_would(
    tmp_path: Path,
) -> None:
    """Given all the time it wants before "go", the command started ahead also imports
    Airflow's models, configures their mappers and imports what the migration loads (the
    work moved out of a cutover's downtime): Airflow's real ``db migrate`` still builds
    the whole schema at the release's head."""
    env = airflow_env.ensure("3.3.2")
    url = f"sqlite:///{tmp_path / 'ahead.db'}"
    with env.ahead(["db", "migrate"], tmp_path / "home", url) as ahead:
        _waiting(ahead.proc.pid)
        assert ahead.proc.poll() is None
        ahead.run()
    engine = db.engine_for(url)
    try:
        assert db.alembic_revision(engine) == versions.head_of("3.3.2")
    finally:
        engine.dispose()


def test_a_command_whose_preparation_fails_still_runs_when_told(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Should preparing ahead fail where the command itself would not (another release,
    another order of imports), "go" still runs the command (in a fresh interpreter)."""
    failing = airflow_env._AHEAD.replace("    configure,\n", "    configure,\n    lambda: 1 / 0,\n")
    assert failing != airflow_env._AHEAD
    monkeypatch.setattr(airflow_env, "_AHEAD", failing)
    env = airflow_env.ensure("3.3.2")
    with env.ahead(["version"], tmp_path / "home", f"sqlite:///{tmp_path / 'v.db'}") as ahead:
        _waiting(ahead.proc.pid)  # the failing step ran
        assert ahead.run().stdout.strip().splitlines()[-1] == "3.3.2"
