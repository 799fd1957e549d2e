"""Imports of names Airflow moved (AS101-AS105), from the verified move tables (``code.moves``).

Why airshift's own rules although ruff has AIR301/AIR302/AIR311: ruff renames the *uses* of a
moved name and keeps the old import line, has no rule for most of ``airflow.contrib`` and for
many 2.x names (``WeekDay``, ``is_venv_installed``, ``datetime`` re-exported by
``airflow.utils.dates``), so files still fail to import on Airflow 3. These rules rewrite the
import itself (and every use, when the class was renamed) to where the *same object* lives on
the target. A move verified in the real target runtime is a safe fix; a move with candidates
that could not be verified is an unsafe fix (``--unsafe-fixes``); one rule per situation.
"""

from __future__ import annotations

from typing import ClassVar

import libcst as cst

from airshift.code.findings import Applicability, Severity
from airshift.code.moves import Move, Status, moves_for
from airshift.code.rules.base import (
    Analysis,
    FixAvailability,
    Hit,
    Rule,
    RuleContext,
    allowed,
    dotted,
)
from airshift.code.rules.rename import rename_imports
from airshift.code.target import Target

SUBDAG_NAMES = {
    "airflow.operators.subdag_operator.SubDagOperator",
    "airflow.operators.subdag.SubDagOperator",
}
# Removed names whose *calls* another rule rewrites (AS120 turns ``days_ago(N)`` into pendulum).
HANDLED_BY_CALL_RULES = {"airflow.utils.dates.days_ago"}
RUFF_MOVE_CODES = frozenset({"AIR301", "AIR302", "AIR311", "AIR312"})


def imported_names(analysis: Analysis) -> list[tuple[cst.ImportFrom, str]]:
    """``(statement, module.Name)`` for every absolute ``from airflow... import Name``."""
    found = []
    for node in analysis.nodes(cst.ImportFrom):
        module = dotted(node.module)
        if (
            node.relative
            or not module.startswith("airflow")
            or isinstance(node.names, cst.ImportStar)
        ):
            continue
        found += [(node, f"{module}.{dotted(alias.name)}") for alias in node.names]
    return found


def fix_applicability(move: Move) -> Applicability | None:
    """Verified in the target: safe. Candidates that could not be told apart: unsafe."""
    if move.new is None:
        return None
    return Applicability.SAFE if move.verified else Applicability.UNSAFE


class MoveRule(Rule):
    """Shared check and fix of the move rules; each subclass takes the moves of one kind
    (by default the Airflow 2 names of one ``status``)."""

    fix_availability = FixAvailability.SOMETIMES
    supersedes = RUFF_MOVE_CODES
    status: ClassVar[Status | None] = None

    def takes(self, move: Move) -> bool:
        return not move.legacy and move.status is self.status

    def reports(self, move: Move) -> bool:
        """Moves with a home; ``RemovedImportRule`` also reports names with none."""
        return move.new is not None

    def message(self, move: Move, target: Target) -> str:
        raise NotImplementedError

    def moves(self, analysis: Analysis, target: Target) -> list[tuple[cst.ImportFrom, Move]]:
        table = moves_for(target)
        found = []
        for statement, old in imported_names(analysis):
            move = table.get(old)
            if move and old not in SUBDAG_NAMES and self.reports(move) and self.takes(move):
                found.append((statement, move))
        return found

    def check(self, analysis: Analysis, ctx: RuleContext) -> list[Hit]:
        return [
            Hit(
                analysis.line(statement),
                Severity.DEPRECATED if move.status is Status.REDIRECTED else Severity.BREAKS,
                self.message(move, ctx.target) + _where(move),
                fix_applicability(move),
            )
            for statement, move in self.moves(analysis, ctx.target)
        ]

    def fix(self, analysis: Analysis, ctx: RuleContext, unsafe: bool = False) -> cst.Module:
        renames = {
            move.old: move.new
            for _, move in self.moves(analysis, ctx.target)
            if move.new and allowed(fix_applicability(move), unsafe)
        }
        return rename_imports(analysis.module, renames)


def _where(move: Move) -> str:
    if move.new is None:
        return (
            f" No {move.kind} of that name exists anywhere on the target (core, Task SDK, "
            "installed providers): replace it by hand."
        )
    if move.verified:
        return f" It lives in `{move.new}` (verified: the same {move.kind})."
    others = ", ".join(f"`{c}`" for c in move.candidates[:3])
    return (
        f" Candidates: {others}; airshift could not verify which one is the same {move.kind}, "
        "so the fix is unsafe."
    )


class LegacyNameRule(MoveRule):
    """Shared message of the rules for Airflow 1.10 names."""

    def message(self, move: Move, target: Target) -> str:
        return f"`{move.old}` is an Airflow 1.10 name."


class ContribImportRule(LegacyNameRule):
    """Import from `airflow.contrib`, the Airflow 1.10 package Airflow 3 no longer has.

    ## What it does
    Finds `from airflow.contrib... import Name` and rewrites it to where the same object lives
    on the target (a provider package, usually).

    ## Why is this bad?
    Airflow 2 only redirects `airflow.contrib` with a warning; Airflow 3 removed it, so the DAG
    file does not import.

    ## Example
    ```python
    from airflow.contrib.sensors.python_sensor import PythonSensor
    ```

    ## Use instead
    ```python
    from airflow.providers.standard.sensors.python import PythonSensor
    ```
    """

    code = "AS101"
    name = "contrib-import"

    def takes(self, move: Move) -> bool:
        return move.old.startswith("airflow.contrib.")


class LegacyImportRule(LegacyNameRule):
    """Import of another Airflow 1.10 name (`bash_operator`, `dummy_operator`, `*_hook`, ...).

    ## What it does
    Rewrites the import, and every use when the class was renamed (`DummyOperator` ->
    `EmptyOperator`), to the home of the same object on the target.

    ## Why is this bad?
    These modules exist in Airflow 2 only as deprecated redirects and are gone in Airflow 3.

    ## Example
    ```python
    from airflow.operators.bash_operator import BashOperator
    ```

    ## Use instead
    ```python
    from airflow.providers.standard.operators.bash import BashOperator
    ```
    """

    code = "AS102"
    name = "legacy-import"

    def takes(self, move: Move) -> bool:
        return move.legacy and not move.old.startswith("airflow.contrib.")


class RedirectedImportRule(MoveRule):
    """Import of an Airflow 2 name that the target only reaches through a deprecated redirect.

    ## What it does
    Rewrites `from airflow.operators.bash import BashOperator` and the like to the module that
    defines the same object on the target (the standard provider, the Task SDK).

    ## Why is this bad?
    The redirect warns on every parse and will be removed; some redirects in Airflow 3 are
    also loose (they point at a module, not at the name).

    ## Example
    ```python
    from airflow.utils.task_group import TaskGroup
    ```

    ## Use instead
    ```python
    from airflow.sdk import TaskGroup
    ```
    """

    code = "AS103"
    name = "redirected-import"
    status = Status.REDIRECTED

    def message(self, move: Move, target: Target) -> str:
        return f"`{move.old}` only works on Airflow {target.version} through a deprecated redirect."


class RemovedImportRule(MoveRule):
    """Import of an Airflow 2 name that no longer exists at that path on the target.

    ## What it does
    Finds names such as `airflow.utils.weekday.WeekDay`, or `datetime` imported through
    `airflow.utils.dates`, that fail to import on the target although the same object still
    exists elsewhere, and rewrites the import to that place. Names that exist nowhere on the
    target (`is_venv_installed` from `airflow.operators.python`) are reported without a fix.

    ## Why is this bad?
    The DAG file fails with `ModuleNotFoundError` or `ImportError` on the target.

    ## Example
    ```python
    from airflow.utils.dates import datetime
    from airflow.utils.weekday import WeekDay
    ```

    ## Use instead
    ```python
    from datetime import datetime
    from airflow.providers.standard.utils.weekday import WeekDay
    ```
    """

    code = "AS104"
    name = "removed-import"
    status = Status.MISSING

    def reports(self, move: Move) -> bool:
        if move.old in HANDLED_BY_CALL_RULES:
            return move.new is not None
        return move.new is not None or move.kind in ("class", "function", "instance")

    def message(self, move: Move, target: Target) -> str:
        return f"`{move.old}` does not import on Airflow {target.version}."


class ChangedImportRule(MoveRule):
    """Import of an Airflow 2 name that still imports on the target but is another object.

    ## What it does
    Finds names whose old path now gives a different kind of object, through one of the
    target's loose deprecation redirects: `airflow.utils.types.NOTSET` gives the *class*
    `ArgNotSet` (so `x is NOTSET` is never true), `airflow.utils.context.context_merge` gives
    a *module*. It rewrites the import to the place that holds the original object, checked
    in the target with `is` for sentinels and by qualified name for classes and functions.

    ## Why is this bad?
    The file imports, but the code silently means something else on the target.

    ## Example
    ```python
    from airflow.utils.types import NOTSET
    ```

    ## Use instead
    ```python
    from airflow.sdk.definitions._internal.types import NOTSET
    ```
    """

    code = "AS105"
    name = "changed-import"
    status = Status.CHANGED

    def message(self, move: Move, target: Target) -> str:
        return (
            f"`{move.old}` was a {move.kind} on Airflow 2 but gives {move.old_now} on "
            f"Airflow {target.version}."
        )
