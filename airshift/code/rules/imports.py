"""Imports of names Airflow moved: 1.10 modules (AS101, AS102), SubDagOperator (AS111), 2.x names
Airflow 3 only redirects (AS103).

Why airshift's own rule although ruff has AIR301/AIR302: ruff renames the *uses* of a moved
name and keeps the old import line, and has no rule for most of ``airflow.contrib``, so the
file still fails to import on Airflow 3. This codemod rewrites the import itself (and every
use, when the class was renamed too) to the final home of the name, following Airflow's own
deprecation tables (``moved_names``): 1.10 -> 2 and, for Airflow 3 targets, 2 -> 3.
"""

from __future__ import annotations

import libcst as cst
from libcst.codemod import CodemodContext
from libcst.codemod.commands.rename import RenameCommand

from airshift.code.findings import Severity
from airshift.code.moved_names import MOVED_IN_2, REDIRECTED_IN_3
from airshift.code.rules.base import Analysis, Hit, Rule, RuleContext, dotted, removed_in
from airshift.code.target import Target

SUBDAG_NAMES = {
    "airflow.operators.subdag_operator.SubDagOperator",
    "airflow.operators.subdag.SubDagOperator",
}


def new_home(old: str, target: Target) -> str | None:
    """Where ``old`` (module.Name) lives on the target, or None when it did not move."""
    new = MOVED_IN_2.get(old)
    if target.major >= 3:
        new = REDIRECTED_IN_3.get(new or old, new)
    return new


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


class MovedImportRule(Rule):
    """AS101/AS102/AS103: rewrite imports of moved names to their home on the target."""

    code = "AS102"
    supersedes = frozenset({"AIR301", "AIR302", "AIR311", "AIR312"})

    def check(self, analysis: Analysis, ctx: RuleContext) -> list[Hit]:
        hits = []
        for statement, old in imported_names(analysis):
            if old in SUBDAG_NAMES:
                continue  # SubDagRule explains what replaces it
            hit = self._hit(analysis.line(statement), old, ctx.target)
            if hit:
                hits.append(hit)
        return hits

    def _hit(self, line: int, old: str, target: Target) -> Hit | None:
        new = new_home(old, target)
        if old in MOVED_IN_2 or old.startswith("airflow.contrib."):
            where = f"; it lives in `{new}`" if new else "; it has no known new home"
            code = "AS101" if old.startswith("airflow.contrib.") else "AS102"
            message = f"`{old}` is an Airflow 1.10 name{where}."
            return Hit(line, removed_in(target, 3), message, bool(new), code)
        if new:
            message = (
                f"`{old}` only works on Airflow {target.version} through a deprecated redirect; "
                f"import `{new}`."
            )
            return Hit(line, Severity.DEPRECATED, message, True, "AS103")
        return None

    def fix(self, module: cst.Module, ctx: RuleContext) -> cst.Module:
        analysis = Analysis(module)
        moves = {
            old: new
            for _, old in imported_names(analysis)
            if old not in SUBDAG_NAMES and (new := new_home(old, ctx.target))
        }
        for old, new in sorted(moves.items()):
            module = RenameCommand(CodemodContext(), old_name=old, new_name=new).transform_module(
                module
            )
        return module


class SubDagRule(Rule):
    """AS111: SubDagOperator is gone in Airflow 3; TaskGroup replaces it (no automatic fix)."""

    code = "AS111"
    supersedes = frozenset({"AIR301", "AIR302"})

    def applies(self, target: Target) -> bool:
        return target.major >= 3

    def check(self, analysis: Analysis, ctx: RuleContext) -> list[Hit]:
        return [
            Hit(
                analysis.line(statement),
                Severity.BREAKS,
                "SubDagOperator was removed in Airflow 3; rewrite the sub-DAG as a TaskGroup "
                "(`airflow.sdk.TaskGroup`).",
            )
            for statement, old in imported_names(analysis)
            if old in SUBDAG_NAMES
        ]
