"""``airshift agent bundle``: the wheels an environment without a package index needs.

The bundle is made for a release, against that release's packages as its constraints
file would pin them, then installed into a copy of the release's runtime with no index
at all (as MWAA installs requirements from plugins.zip): it must be complete, and change
nothing the environment has.
"""

from __future__ import annotations

import zipfile

import pytest

from airshift import __version__
from tests.agent import envs
from tests.agent.conftest import airshift

pytestmark = pytest.mark.slow


def test_bundle_installs_with_no_index_and_changes_nothing(tmp_path):
    env = envs.replica("3.3.2", tmp_path)
    bundle = tmp_path / "plugins.zip"
    proc = airshift(
        "agent", "bundle", "--airflow", "3.3.2", "--out", str(bundle), "--python", "3.11",
        "--constraints", str(env.pins), "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    wheels = tmp_path / "plugins"
    with zipfile.ZipFile(bundle) as zf:
        names = zf.namelist()
        zf.extractall(wheels)
    assert all(n.endswith(".whl") and "/" not in n for n in names)
    assert any(n.startswith(f"airshift-{__version__}-") for n in names)
    installed = env.install(
        f"airshift[agent]=={__version__}", flags=("--no-index", "--find-links", str(wheels))
    )
    assert installed.returncode == 0, installed.stderr[-2000:]
    assert env.changed() == {}


def test_bundle_refuses_an_environment_it_would_change(tmp_path):
    """An environment whose constraints pin a package below what the agent needs (MWAA
    2.9.2+ images pin an older ruff than airshift's): refused, nothing written."""
    constraints = tmp_path / "constraints.txt"
    constraints.write_text("ruff==0.4.0\n")
    proc = airshift(
        "agent",
        "bundle",
        "--airflow",
        "2.10.5",
        "--constraints",
        str(constraints),
        "--out",
        str(tmp_path / "p.zip"),
        "--python",
        "3.11",
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "without changing packages" in proc.stderr and "ruff" in proc.stderr.lower()
    assert not (tmp_path / "p.zip").exists()
