"""The package type-checks: mypy (configured in pyproject.toml) runs with the test command.

Why a test: the suite is what CI and every developer run (``scripts/test``), so a type
error fails the build like any other defect, with mypy's own report as the message.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_mypy_finds_no_errors() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
