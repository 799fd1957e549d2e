"""Running ruff's ``AIR`` rules, as a dependency rather than a re-implementation.

Why ruff: its Airflow rules already cover most names removed or moved in Airflow 3, with
fixes for some. airshift runs the ruff executable that is installed with it, turns its JSON
into findings with an Airflow-aware severity, and applies only the fixes ruff itself marks
safe. Targets below 3 get only ruff's general Airflow rules (``AIR0``), since ``AIR3`` is
about Airflow 3 alone.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Sequence
from pathlib import Path

from airshift.code.findings import Applicability, Finding, Severity
from airshift.code.moves import Status, moves_for
from airshift.code.target import Target
from airshift.errors import AirshiftError
from airshift.tools import RUFF, binary

_NAME_IN_MESSAGE = re.compile(r"`([\w.]+)`")
_APPLICABILITY = {"safe": Applicability.SAFE, "unsafe": Applicability.UNSAFE}


def selection(target: Target) -> str:
    """The ruff rule prefix that applies to a target version."""
    return "AIR" if target.major >= 3 else "AIR0"


def _ruff(args: Sequence[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    cmd = [binary(RUFF), *args]
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode not in (0, 1):
        raise AirshiftError(f"ruff failed ({' '.join(args[:3])} ...): {proc.stderr.strip()}")
    return proc


def _base_args(target: Target) -> list[str]:
    return ["check", "--isolated", "--no-cache", "--select", selection(target), "--exit-zero"]


def ruff_findings(root: Path, files: dict[Path, str], target: Target) -> list[Finding]:
    """Ruff's AIR diagnostics for ``files`` (path -> display name), as findings."""
    if not files:
        return []
    args = [*_base_args(target), "--output-format", "json", *map(str, files)]
    diagnostics = json.loads(_ruff(args, root).stdout or "[]")
    return [_finding(d, files, target) for d in diagnostics if Path(d["filename"]) in files]


def _finding(diagnostic: dict, files: dict[Path, str], target: Target) -> Finding:
    fix = diagnostic.get("fix") or {}
    return Finding(
        file=files[Path(diagnostic["filename"])],
        line=diagnostic["location"]["row"],
        rule=diagnostic["code"],
        severity=severity(diagnostic["code"], diagnostic["message"], target),
        message=diagnostic["message"],
        fix=_APPLICABILITY.get(fix.get("applicability", "")),
        source="ruff",
    )


def severity(code: str, message: str, target: Target) -> Severity:
    """How a ruff AIR code fares on the target.

    AIR301 (removed) breaks. AIR302 (moved to a provider) breaks unless the target still
    redirects the old name to the same object (the move table says); AIR311/AIR312 are
    "still works, will be removed". Everything else is advice.
    """
    if code == "AIR301":
        return Severity.BREAKS
    if code == "AIR302":
        names = _NAME_IN_MESSAGE.findall(message)
        move = moves_for(target).get(names[0]) if names else None
        redirected = move is not None and move.status is Status.REDIRECTED
        return Severity.DEPRECATED if redirected else Severity.BREAKS
    if code in ("AIR311", "AIR312"):
        return Severity.DEPRECATED
    return Severity.ADVICE


def apply_ruff_fixes(
    root: Path, paths: Sequence[Path], target: Target, unsafe: bool = False
) -> None:
    """Apply ruff's safe AIR fixes (and its unsafe ones when asked) to ``paths`` in place
    (callers pass copies)."""
    if paths:
        unsafe_args = ["--unsafe-fixes"] if unsafe else []
        _ruff([*_base_args(target), "--fix", *unsafe_args, *map(str, paths)], root)
