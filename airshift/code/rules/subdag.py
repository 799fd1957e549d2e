"""``SubDagOperator`` (AS111): removed in Airflow 3; a TaskGroup in the parent DAG replaces it.

Why a codemod for one shape only: nearly every sub-DAG in the wild is made by a factory
function in the same file that builds ``DAG(...)``, attaches tasks with ``dag=<that DAG>`` and
returns it, called as ``SubDagOperator(task_id="x", subdag=factory(...))``. That shape has a
mechanical equivalent: the factory makes a ``TaskGroup`` (keeping the sub-DAG's
``default_args``), its tasks join it with ``task_group=``, and the call site calls the factory
with ``group_id="x"``, so ``x >> other`` still works. Anything else (a factory in another
module, a DAG built with ``with``, a factory used elsewhere) is only reported. The rewrite
changes task ids (``inner`` in DAG ``parent.x`` becomes ``x.inner`` in ``parent``) and drops
the sub-DAG's own schedule arguments; the finding says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst
from libcst.codemod import CodemodContext
from libcst.codemod.visitors import AddImportsVisitor, RemoveImportsVisitor

from airshift.code.findings import Applicability, Severity
from airshift.code.rules.base import Analysis, FixAvailability, Hit, Rule, RuleContext
from airshift.code.rules.moves import SUBDAG_NAMES, imported_names

DAG_CLASSES = {"airflow.DAG", "airflow.models.DAG", "airflow.models.dag.DAG", "airflow.sdk.DAG"}


@dataclass(frozen=True)
class _Shape:
    """A recognised sub-DAG: the operator call, its task id, and the factory it calls."""

    call: cst.Call
    task_id: str
    factory: cst.FunctionDef
    dag_name: str  # the factory's local name for the sub-DAG


def _keyword(call: cst.Call, name: str) -> cst.Arg | None:
    return next((a for a in call.args if a.keyword and a.keyword.value == name), None)


def _factory_dag(analysis: Analysis, func: cst.FunctionDef) -> str | None:
    """The local name of ``name = DAG(...)`` when the factory is exactly the common shape:
    that assignment, statements, and ``return name`` last."""
    body = list(func.body.body)
    if len(body) < 2 or not isinstance(body[-1], cst.SimpleStatementLine):
        return None
    ret = body[-1].body[0]
    if not (isinstance(ret, cst.Return) and isinstance(ret.value, cst.Name)):
        return None
    name = ret.value.value
    for statement in body[:-1]:
        if not isinstance(statement, cst.SimpleStatementLine):
            continue
        small = statement.body[0]
        if (
            isinstance(small, cst.Assign)
            and len(small.targets) == 1
            and isinstance(small.targets[0].target, cst.Name)
            and small.targets[0].target.value == name
            and isinstance(small.value, cst.Call)
            and DAG_CLASSES & analysis.names(small.value.func)
        ):
            return name
    return None


def _shapes(analysis: Analysis) -> tuple[list[_Shape], list[cst.Call]]:
    """Recognised sub-DAG calls, and SubDagOperator calls of any other shape."""
    factories = {f.name.value: f for f in analysis.module.body if isinstance(f, cst.FunctionDef)}
    calls = [c for c in analysis.nodes(cst.Call) if SUBDAG_NAMES & analysis.names(c.func)]
    uses: dict[str, int] = {}
    for node in analysis.nodes(cst.Name):
        uses[node.value] = uses.get(node.value, 0) + 1
    shapes, others = [], []
    for call in calls:
        subdag, task_id = _keyword(call, "subdag"), _keyword(call, "task_id")
        factory = None
        if (
            subdag
            and task_id
            and isinstance(task_id.value, cst.SimpleString)
            and isinstance(subdag.value, cst.Call)
            and isinstance(subdag.value.func, cst.Name)
        ):
            factory = factories.get(subdag.value.func.value)
        dag_name = _factory_dag(analysis, factory) if factory else None
        keywords = {a.keyword.value for a in call.args if a.keyword}
        # the factory is defined once and called only here (its def and this call), and the
        # operator gets nothing a TaskGroup would not keep (``dag=``, ``executor=``, ...)
        if (
            factory
            and dag_name
            and task_id
            and uses.get(factory.name.value) == 2
            and keywords == {"task_id", "subdag"}
            and len(call.args) == 2
        ):
            shapes.append(_Shape(call, str(task_id.value.evaluated_value), factory, dag_name))
        else:
            others.append(call)
    return shapes, others


class SubDagRule(Rule):
    """`SubDagOperator`, removed in Airflow 3.

    ## What it does
    Finds `SubDagOperator`. When the sub-DAG is made by a factory function in the same file
    (`sub = DAG(...)`, tasks with `dag=sub`, `return sub`) used only by
    `SubDagOperator(task_id="x", subdag=factory(...))`, it rewrites the factory to build a
    `TaskGroup` (keeping the sub-DAG's `default_args`) and the call to
    `factory(..., group_id="x")`. Task ids gain the group id as a prefix (`x.inner`), and the
    sub-DAG's own schedule arguments go: the group runs on the parent's schedule.

    ## Why is this bad?
    Airflow 3 has no sub-DAGs: the file does not import.

    ## Example
    ```python
    def make_section(parent, child):
        sub = DAG(f"{parent}.{child}", default_args=ARGS)
        EmptyOperator(task_id="inner", dag=sub)
        return sub


    section = SubDagOperator(task_id="section", subdag=make_section("parent", "section"))
    ```

    ## Use instead
    ```python
    def make_section(parent, child, group_id):
        sub = TaskGroup(group_id=group_id, default_args=ARGS)
        EmptyOperator(task_id="inner", task_group=sub)
        return sub


    section = make_section("parent", "section", group_id="section")
    ```
    """

    code = "AS111"
    name = "subdag-operator"
    fix_availability = FixAvailability.SOMETIMES
    supersedes = frozenset({"AIR301", "AIR302"})
    since = "3"

    def check(self, analysis: Analysis, ctx: RuleContext) -> list[Hit]:
        shapes, others = _shapes(analysis)
        hits = [
            Hit(
                analysis.line(shape.call),
                Severity.BREAKS,
                f"SubDagOperator was removed in Airflow 3; the sub-DAG made by "
                f"`{shape.factory.name.value}` becomes TaskGroup `{shape.task_id}`: its task ids "
                f"gain the prefix `{shape.task_id}.` and it runs on the parent's schedule.",
                Applicability.SAFE,
            )
            for shape in shapes
        ]
        hits += [
            Hit(
                analysis.line(call),
                Severity.BREAKS,
                "SubDagOperator was removed in Airflow 3; rewrite the sub-DAG as a TaskGroup "
                "(`airflow.sdk.TaskGroup`).",
            )
            for call in others
        ]
        if not shapes and not others:  # imported, never called here
            hits += [
                Hit(
                    analysis.line(statement),
                    Severity.BREAKS,
                    "SubDagOperator was removed in Airflow 3; rewrite the sub-DAG as a "
                    "TaskGroup (`airflow.sdk.TaskGroup`).",
                )
                for statement, old in imported_names(analysis)
                if old in SUBDAG_NAMES
            ]
        return hits

    def fix(self, analysis: Analysis, ctx: RuleContext, unsafe: bool = False) -> cst.Module:
        shapes, others = _shapes(analysis)
        if not shapes:
            return analysis.module
        fixed = analysis.module.visit(_ToTaskGroup(shapes))
        context = CodemodContext()
        AddImportsVisitor.add_needed_import(context, "airflow.sdk", "TaskGroup")
        if not others:
            for name in SUBDAG_NAMES:
                module_name, _, obj = name.rpartition(".")
                RemoveImportsVisitor.remove_unused_import(context, module_name, obj)
        fixed = AddImportsVisitor(context).transform_module(fixed)
        return RemoveImportsVisitor(context).transform_module(fixed)


class _ToTaskGroup(cst.CSTTransformer):
    def __init__(self, shapes: list[_Shape]) -> None:
        super().__init__()
        self.calls = {s.call: s for s in shapes}
        self.factories = {s.factory: s for s in shapes}
        self.inside: _Shape | None = None

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        if node in self.factories:
            self.inside = self.factories[node]

    def leave_FunctionDef(
        self, original: cst.FunctionDef, updated: cst.FunctionDef
    ) -> cst.FunctionDef:
        if original not in self.factories:
            return updated
        self.inside = None
        params = updated.params
        new_param = cst.Param(cst.Name("group_id"))
        return updated.with_changes(params=params.with_changes(params=[*params.params, new_param]))

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        if original in self.calls:
            shape = self.calls[original]
            subdag = _keyword(updated, "subdag")
            assert subdag is not None and isinstance(subdag.value, cst.Call)
            factory_call = subdag.value
            group = cst.Arg(
                keyword=cst.Name("group_id"),
                value=cst.SimpleString(repr(shape.task_id).replace("'", '"')),
                equal=cst.AssignEqual(
                    whitespace_before=cst.SimpleWhitespace(""),
                    whitespace_after=cst.SimpleWhitespace(""),
                ),
            )
            args = list(factory_call.args)
            if args:
                args[-1] = args[-1].with_changes(
                    comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
                )
            return factory_call.with_changes(args=[*args, group])
        if self.inside is None:
            return updated
        dag_arg = _keyword(updated, "dag")
        if (
            dag_arg
            and isinstance(dag_arg.value, cst.Name)
            and dag_arg.value.value == self.inside.dag_name
        ):
            return updated.with_changes(
                args=[
                    a.with_changes(keyword=cst.Name("task_group")) if a is dag_arg else a
                    for a in updated.args
                ]
            )
        return updated

    def leave_Assign(self, original: cst.Assign, updated: cst.Assign) -> cst.Assign:
        if self.inside is None or not isinstance(updated.value, cst.Call):
            return updated
        target = updated.targets[0].target if len(updated.targets) == 1 else None
        if not (isinstance(target, cst.Name) and target.value == self.inside.dag_name):
            return updated
        default_args = _keyword(updated.value, "default_args")
        args = [cst.Arg(keyword=cst.Name("group_id"), value=cst.Name("group_id"), equal=_EQ)]
        if default_args:
            args[0] = args[0].with_changes(
                comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
            )
            args.append(default_args.with_changes(comma=cst.MaybeSentinel.DEFAULT))
        return updated.with_changes(value=cst.Call(cst.Name("TaskGroup"), args=args))


_EQ = cst.AssignEqual(
    whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")
)
