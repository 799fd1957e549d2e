"""Real provider example DAGs of the Airflow 2 era, measured as ``bench/code_corpus.py`` does.

Why a slice of the dev corpus in the suite: the whole measurement (docs/code-check.md) takes
a long while; these wheels are small, fetched from PyPI, and enough to catch a fix that stops
working or a leftover import that breaks files again. Each file that imports on the real
Airflow 2.10.5 must import on the real 3.3.2 after ``code upgrade --write``, at least as often
as after ruff's AIR fixes alone. It needs the runtimes with providers that
``scripts/gen_moves.py`` installs (large: google, amazon, azure, ...), and runs where they are.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.code_corpus import measure
from scripts.gen_moves import installed

SOURCES = {"microsoft-azure-3.9.0", "databricks-2.7.0", "cncf-kubernetes-4.0.1"}


@pytest.mark.slow
def test_provider_examples_import_on_airflow3_after_upgrade(tmp_path: Path) -> None:
    if not installed("3.3.2"):
        pytest.skip("the runtimes with providers are not installed (python scripts/gen_moves.py)")
    measured = measure(["dev"], None, "3.3.2", tmp_path / "work", only=SOURCES)
    results = measured["sources"].values()
    source_ok = sum(len(r["source_ok"]) for r in results)
    fixed = {
        variant: sum(len(set(r["target_ok"][variant]) & set(r["source_ok"])) for r in results)
        for variant in ("original", "ruff", "airshift")
    }
    assert source_ok >= 10
    assert fixed["airshift"] >= fixed["ruff"] >= fixed["original"]
    assert fixed["airshift"] >= 0.95 * source_ok, {
        r: v["left"] for r, v in measured["sources"].items()
    }
