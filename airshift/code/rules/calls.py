"""Call sites of removed APIs: ``provide_context=`` (AS110) and ``days_ago()`` (AS120).

Why codemods here: both are everywhere in 1.10-era DAGs, both make the file fail to import on
the target (``provide_context`` is rejected by every Airflow 2+ operator; ``days_ago`` is gone
in 3), and both have a replacement with the same meaning: drop the argument (the context is
always passed), and ``pendulum.today("UTC").add(days=-N)`` (what ``days_ago(N)`` computed).
ruff reports both (AIR301) without a fix.
"""

from __future__ import annotations

import libcst as cst
from libcst.codemod import CodemodContext
from libcst.codemod.visitors import AddImportsVisitor, RemoveImportsVisitor

from airshift.code.findings import Severity
from airshift.code.rules.base import Analysis, Hit, Rule, RuleContext, removed_in

DAYS_AGO = "airflow.utils.dates.days_ago"


class ProvideContextRule(Rule):
    """AS110: remove ``provide_context=...`` from operator calls."""

    code = "AS110"
    title = "provide_context argument"
    supersedes = frozenset({"AIR301"})

    def check(self, analysis: Analysis, ctx: RuleContext) -> list[Hit]:
        return [
            Hit(
                analysis.line(arg),
                Severity.BREAKS,
                "`provide_context` was removed in Airflow 2; operators reject it. The context is "
                "always passed to callables that accept `**kwargs`.",
                fixable=True,
            )
            for arg in analysis.nodes(cst.Arg)
            if arg.keyword and arg.keyword.value == "provide_context"
        ]

    def fix(self, module: cst.Module, ctx: RuleContext) -> cst.Module:
        return module.visit(_DropProvideContext())


class _DropProvideContext(cst.CSTTransformer):
    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.Call:
        args = [a for a in updated.args if not (a.keyword and a.keyword.value == "provide_context")]
        if len(args) == len(updated.args):
            return updated
        if args and updated.args[-1] not in args:
            args[-1] = args[-1].with_changes(comma=updated.args[-1].comma)
        return updated.with_changes(args=args)


class DaysAgoRule(Rule):
    """AS120: ``days_ago(N)`` -> ``pendulum.today("UTC").add(days=-N)``."""

    code = "AS120"
    title = "days_ago removed"
    supersedes = frozenset({"AIR301"})

    def check(self, analysis: Analysis, ctx: RuleContext) -> list[Hit]:
        return [
            Hit(
                analysis.line(call),
                removed_in(ctx.target, 3),
                "`airflow.utils.dates.days_ago` was removed in Airflow 3; use "
                '`pendulum.today("UTC").add(days=-N)`.',
                fixable=_simple(call),
            )
            for call in analysis.nodes(cst.Call)
            if DAYS_AGO in analysis.names(call.func)
        ]

    def fix(self, module: cst.Module, ctx: RuleContext) -> cst.Module:
        analysis = Analysis(module)
        calls = {
            c for c in analysis.nodes(cst.Call) if DAYS_AGO in analysis.names(c.func) and _simple(c)
        }
        if not calls:
            return module
        context = CodemodContext()
        fixed = analysis.module.visit(_ReplaceDaysAgo(calls))
        AddImportsVisitor.add_needed_import(context, "pendulum")
        RemoveImportsVisitor.remove_unused_import(context, "airflow.utils.dates", "days_ago")
        fixed = AddImportsVisitor(context).transform_module(fixed)
        return RemoveImportsVisitor(context).transform_module(fixed)


def _simple(call: cst.Call) -> bool:
    """Only ``days_ago(N)`` has an exact pendulum equivalent; hour/minute arguments stay."""
    return len(call.args) == 1 and call.args[0].keyword is None and not call.args[0].star


class _ReplaceDaysAgo(cst.CSTTransformer):
    def __init__(self, calls: set[cst.Call]) -> None:
        super().__init__()
        self.calls = calls

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        if original not in self.calls:
            return updated
        days = original.args[0].value
        if not isinstance(days, cst.Integer | cst.Name | cst.Attribute):
            days = days.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
        return _today_minus(cst.UnaryOperation(cst.Minus(), days))


def _today_minus(negative: cst.BaseExpression) -> cst.Call:
    template = cst.ensure_type(cst.parse_expression('pendulum.today("UTC").add(days=0)'), cst.Call)
    return template.with_changes(args=[template.args[0].with_changes(value=negative)])
