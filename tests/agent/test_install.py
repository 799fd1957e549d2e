"""``airshift[agent]`` installs into each supported Airflow release without changing a
package the release's environment has.

Each release's runtime (its packages as of its release date, like its constraints file)
is copied, and the agent is installed the way an environment installs requirements:
every package already there pinned. The install must succeed and leave every one of
them at its version; the plugin must then load in that Airflow.
"""

from __future__ import annotations

import subprocess

import pytest

from tests.agent import envs

pytestmark = pytest.mark.slow
# Releases whose SQLAlchemy is 1.4 (the agent runs on their psycopg2: ``backends.Psycopg2``).
SQLALCHEMY_14 = ["2.7.3", "2.8.4", "2.9.3", "2.10.5", "2.11.2", "3.0.6"]
SQLALCHEMY_2 = ["3.1.8", "3.2.2", "3.3.2", "3.4.0b2"]


# One release of each SQLAlchemy runs by default; every release with --full.
DEFAULT = {"2.10.5", "3.3.2"}


@pytest.mark.parametrize(
    "version",
    [
        pytest.param(v, marks=[] if v in DEFAULT else [pytest.mark.full])
        for v in SQLALCHEMY_14 + SQLALCHEMY_2
    ],
)
def test_agent_installs_without_changing_the_environment(version, tmp_path, agent_wheel):
    env = envs.replica(version, tmp_path)
    proc = env.install(f"{agent_wheel}[agent]")
    assert proc.returncode == 0, proc.stderr[-1500:]
    assert env.changed() == {}
    added = set(env.freeze()) - set(env.before)
    assert "airshift" in added
    loads = subprocess.run(
        [str(env.python), "-c", "from airflow.plugins_manager import AirflowPlugin as P; "
         "from airshift.agent.plugin import AirshiftAgentPlugin as A; assert issubclass(A, P)"],
        capture_output=True, text=True, env=envs.airflow_environ(env, tmp_path / "home", "sqlite:///" + str(tmp_path / "x.db"), "", {}),
    )  # fmt: skip
    assert loads.returncode == 0, loads.stderr[-1500:]
