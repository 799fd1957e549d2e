"""Shared fixtures: a fresh copy of the hand-written legacy corpus for each test that edits it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

CORPUS = Path(__file__).parent / "corpus" / "legacy"


@pytest.fixture
def legacy_project(tmp_path: Path) -> Path:
    """A writable copy of tests/code/corpus/legacy (DAGs in 1.10 / early 2.x style, a plugin)."""
    return Path(shutil.copytree(CORPUS, tmp_path / "legacy"))
