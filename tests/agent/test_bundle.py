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


@pytest.mark.parametrize("version", ["2.10.3", "3.3.2"])
def test_bundle_installs_with_no_index_and_changes_nothing(tmp_path, version):
    """2.10.3: MWAA's constraints pin ruff 0.5.5 and uv 0.4.1 (``envs.CONSTRAINTS``)."""
    env = envs.replica(version, tmp_path)
    bundle = tmp_path / "plugins.zip"
    proc = airshift(
        "agent", "bundle", "--airflow", version, "--out", str(bundle), "--python", "3.11",
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
    now = env.freeze()
    pinned = env.constrained
    assert {n: now[n] for n in pinned if n in now} == {n: v for n, v in pinned.items() if n in now}
    assert {"ruff", "uv"} & set(pinned) <= set(now)


def test_bundle_refuses_an_environment_it_would_change(tmp_path):
    """An environment whose constraints pin a package below what the agent needs (pyarrow
    10, where airshift takes 11 and up): refused, nothing written."""
    constraints = tmp_path / "constraints.txt"
    constraints.write_text("pyarrow==10.0.1\nfsspec==2023.9.2\n")
    proc = airshift(
        "agent",
        "bundle",
        "--airflow",
        "2.7.2",
        "--constraints",
        str(constraints),
        "--out",
        str(tmp_path / "p.zip"),
        "--python",
        "3.11",
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "without changing packages" in proc.stderr
    assert "pyarrow==10.0.1" in proc.stderr
    assert not (tmp_path / "p.zip").exists()
