"""Revision data: every release airshift migrates with is known, pre-releases under their own
name, and the data matches the real packages it was generated from."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from airshift import airflow_env, versions
from airshift.errors import AirshiftError
from tests.realairflow.versions import AIRFLOW_3_4, MWAA_2X, MWAA_3X, NEWEST_3X

ROOT = Path(__file__).resolve().parent.parent


def _gen_revisions():
    spec = importlib.util.spec_from_file_location(
        "gen_revisions", ROOT / "scripts/gen_revisions.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("release", [*MWAA_2X, *MWAA_3X, NEWEST_3X, AIRFLOW_3_4])
def test_every_tested_release_is_known(release: str) -> None:
    head = versions.head_of(release)
    assert head is not None
    assert release in versions.releases_at(head)
    assert versions.release_for(head) == versions.releases_at(head)[-1]


def test_a_pre_release_is_named_as_one_and_never_the_default() -> None:
    head = versions.head_of(AIRFLOW_3_4)
    label = versions.describe(head).label
    if versions.is_prerelease(AIRFLOW_3_4):
        assert label == f"Airflow {AIRFLOW_3_4} (pre-release)"
        assert versions.latest_release() == NEWEST_3X  # `latest` stays on final releases
        assert versions.resolve_release("3") == NEWEST_3X
    else:
        assert "pre-release" not in label
    assert versions.resolve_release("3.4") == AIRFLOW_3_4  # the only 3.4 there is
    assert versions.resolve_release(AIRFLOW_3_4) == AIRFLOW_3_4
    assert versions.is_older(versions.head_of(NEWEST_3X), head)
    # 3.4's migrations start from any 2.7+ database.
    assert versions.can_upgrade(AIRFLOW_3_4, versions.head_of("2.7.2"))
    with pytest.raises(AirshiftError, match="Unknown Airflow version"):
        versions.resolve_release("3.9")


def test_revision_data_matches_the_3_4_package() -> None:
    """The data was generated from the real 3.4 package (``scripts/gen_revisions.py``); a
    regenerated or re-pinned 3.4 that differs must regenerate the data too."""
    env = airflow_env.ensure(AIRFLOW_3_4)
    gen = _gen_revisions()
    version, revisions, _ = gen.read_package(env.path)
    assert version == AIRFLOW_3_4
    assert versions._data()["chains"][AIRFLOW_3_4] == [r["revision"] for r in revisions]
    assert versions.head_of(AIRFLOW_3_4) == gen.chain_head(revisions)
    for r in revisions:
        assert versions.describe(str(r["revision"])).introduced_in == r["airflow_version"]
