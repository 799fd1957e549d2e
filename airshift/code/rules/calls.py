"""Call sites of removed APIs: ``provide_context=`` (AS110), ``days_ago()`` (AS120) and
``DAG(schedule_interval=...)`` (AS121).

Why codemods here: all three are everywhere in 1.10-era DAGs, all three make the file fail to
import on Airflow 3 (Airflow 2 only warns), and each has a replacement with the same meaning:
drop ``provide_context`` (the context is always passed), ``pendulum.today("UTC").add(days=-N)``
(what ``days_ago(N)`` computed), ``schedule=``. ruff reports the first two (AIR301) without a
fix.
"""

from __future__ import annotations

import libcst as cst
from libcst.codemod import CodemodContext
from libcst.codemod.visitors import AddImportsVisitor, RemoveImportsVisitor

from airshift.code.findings import Applicability
from airshift.code.rules.base import (
    Analysis,
    FixAvailability,
    Hit,
    Rule,
    RuleContext,
    removed_in,
)

DAYS_AGO = "airflow.utils.dates.days_ago"


class ProvideContextRule(Rule):
    """`provide_context=` passed to an operator.

    ## What it does
    Removes the `provide_context` argument from every call.

    ## Why is this bad?
    Deprecated since Airflow 2 (the context is always passed to callables that accept
    `**kwargs`) and rejected by Airflow 3 operators: the DAG file does not import.

    ## Example
    ```python
    PythonOperator(task_id="t", python_callable=f, provide_context=True)
    ```

    ## Use instead
    ```python
    PythonOperator(task_id="t", python_callable=f)
    ```
    """

    code = "AS110"
    name = "provide-context"
    fix_availability = FixAvailability.ALWAYS
    supersedes = frozenset({"AIR301"})

    def check(self, analysis: Analysis, ctx: RuleContext) -> list[Hit]:
        return [
            Hit(
                analysis.line(arg),
                removed_in(ctx.target, 3),
                "`provide_context` is deprecated since Airflow 2 and rejected by Airflow 3 "
                "operators; the context is always passed to callables that accept `**kwargs`.",
                Applicability.SAFE,
            )
            for arg in analysis.nodes(cst.Arg)
            if arg.keyword and arg.keyword.value == "provide_context"
        ]

    def fix(self, analysis: Analysis, ctx: RuleContext, unsafe: bool = False) -> cst.Module:
        return analysis.module.visit(_DropProvideContext())


class _DropProvideContext(cst.CSTTransformer):
    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.Call:
        args = [a for a in updated.args if not (a.keyword and a.keyword.value == "provide_context")]
        if len(args) == len(updated.args):
            return updated
        if args and updated.args[-1] not in args:
            args[-1] = args[-1].with_changes(comma=updated.args[-1].comma)
        return updated.with_changes(args=args)


class DaysAgoRule(Rule):
    """`days_ago(N)`, removed in Airflow 3.

    ## What it does
    Replaces `days_ago(N)` with `pendulum.today("UTC").add(days=-N)`, what `days_ago(N)`
    computed (midnight UTC, N days ago). Calls with `hour=`/`minute=` arguments are reported
    without a fix.

    ## Why is this bad?
    `airflow.utils.dates.days_ago` was removed in Airflow 3; a dynamic `start_date` is also
    discouraged, but changing it to a fixed date is a decision for a person.

    ## Example
    ```python
    DAG("d", start_date=days_ago(2))
    ```

    ## Use instead
    ```python
    DAG("d", start_date=pendulum.today("UTC").add(days=-2))
    ```
    """

    code = "AS120"
    name = "days-ago"
    fix_availability = FixAvailability.SOMETIMES
    supersedes = frozenset({"AIR301"})

    def check(self, analysis: Analysis, ctx: RuleContext) -> list[Hit]:
        return [
            Hit(
                analysis.line(call),
                removed_in(ctx.target, 3),
                "`airflow.utils.dates.days_ago` was removed in Airflow 3; use "
                '`pendulum.today("UTC").add(days=-N)`.',
                Applicability.SAFE if _simple(call) else None,
            )
            for call in analysis.nodes(cst.Call)
            if DAYS_AGO in analysis.names(call.func)
        ]

    def fix(self, analysis: Analysis, ctx: RuleContext, unsafe: bool = False) -> cst.Module:
        calls = {
            c for c in analysis.nodes(cst.Call) if DAYS_AGO in analysis.names(c.func) and _simple(c)
        }
        if not calls:
            return analysis.module
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


DAG_FACTORIES = {
    "airflow.DAG",
    "airflow.models.DAG",
    "airflow.models.dag.DAG",
    "airflow.sdk.DAG",
    "airflow.decorators.dag",
    "airflow.sdk.dag",
}
OLD_SCHEDULE_ARGS = ("schedule_interval", "timetable")


def _dag_calls(analysis: Analysis) -> list[cst.Call]:
    """DAG constructor and ``@dag`` calls that pass an old schedule keyword and no ``schedule``."""
    calls = []
    for call in analysis.nodes(cst.Call):
        keywords = {arg.keyword.value for arg in call.args if arg.keyword}
        old = keywords & set(OLD_SCHEDULE_ARGS)
        if old and "schedule" not in keywords and DAG_FACTORIES & analysis.names(call.func):
            calls.append(call)
    return calls


class ScheduleArgumentRule(Rule):
    """`DAG(schedule_interval=...)` or `timetable=`, removed in Airflow 3.

    ## What it does
    Renames the keyword to `schedule=` in every `DAG(...)` and `@dag(...)` call. ruff's
    AIR301 fix does the same but stops after the first DAG of a file when its other fixes
    touch the same lines; this one renames every occurrence in one pass.

    ## Why is this bad?
    Airflow 3's DAG rejects both keywords: the DAG file does not import.

    ## Example
    ```python
    DAG("d", schedule_interval="@daily")
    ```

    ## Use instead
    ```python
    DAG("d", schedule="@daily")
    ```
    """

    code = "AS121"
    name = "schedule-interval"
    fix_availability = FixAvailability.ALWAYS
    supersedes = frozenset({"AIR301"})
    since = "2.4"  # ``schedule=`` exists since 2.4

    def check(self, analysis: Analysis, ctx: RuleContext) -> list[Hit]:
        return [
            Hit(
                analysis.line(arg),
                removed_in(ctx.target, 3),
                f"`{arg.keyword.value}` was removed from DAG in Airflow 3; pass `schedule=`.",
                Applicability.SAFE,
            )
            for call in _dag_calls(analysis)
            for arg in call.args
            if arg.keyword and arg.keyword.value in OLD_SCHEDULE_ARGS
        ]

    def fix(self, analysis: Analysis, ctx: RuleContext, unsafe: bool = False) -> cst.Module:
        return analysis.module.visit(_RenameSchedule(set(_dag_calls(analysis))))


class _RenameSchedule(cst.CSTTransformer):
    def __init__(self, calls: set[cst.Call]) -> None:
        super().__init__()
        self.calls = calls

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.Call:
        if original not in self.calls:
            return updated
        args = [
            a.with_changes(keyword=cst.Name("schedule"))
            if a.keyword and a.keyword.value in OLD_SCHEDULE_ARGS
            else a
            for a in updated.args
        ]
        return updated.with_changes(args=args)
