"""What a DAG file's `default_args` set, read statically, or that they cannot be read.

Why a rule needs them: Airflow fills every argument an operator's constructor takes from the
DAG's (or task group's) `default_args` when the call does not pass it. A codemod that swaps
one operator class for another therefore changes meaning when `default_args` set an argument
that one class takes and the other does not (a `timeout` meant for sensors becomes the new
operator's request timeout). Only the plain shapes are read: `default_args={...}` with
string keys, or a module-level name bound once to such a dict and used only that way.
Anything else (`dag.default_args[...] = ...`, `DAG(**config)`, a dict built by a call) means
"cannot be read", and the rule treats it as a possible difference.
"""

from __future__ import annotations

import libcst as cst

from airshift.code.rules.base import Analysis
from airshift.code.rules.calls import DAG_FACTORIES

# Calls that take `default_args` and pass them on to the operators inside.
HOLDERS = DAG_FACTORIES | {
    "airflow.utils.task_group.TaskGroup",
    "airflow.sdk.TaskGroup",
    "airflow.decorators.task_group",
    "airflow.sdk.task_group",
}


def default_args(analysis: Analysis) -> dict[str, cst.BaseExpression] | None:
    """Every key any `default_args` of the module sets, with its value (a key set twice: the
    last one read); None when one of them cannot be read."""
    bound = _module_dicts(analysis)
    passed: list[cst.Arg] = []
    for arg in analysis.nodes(cst.Arg):
        call = analysis.parents.get(arg)
        if arg.star == "**" and isinstance(call, cst.Call) and analysis.names(call.func) & HOLDERS:
            return None  # DAG(**config): its default_args are not in the file
        if arg.keyword and arg.keyword.value == "default_args":
            passed.append(arg)
    keywords = {a.keyword for a in passed}
    if any(n.value == "default_args" and n not in keywords for n in analysis.nodes(cst.Name)):
        return None  # read or changed elsewhere: `dag.default_args`, `default_args = {...}`
    found: dict[str, cst.BaseExpression] = {}
    for arg in passed:
        value = arg.value
        if isinstance(value, cst.Name):
            name = value.value
            uses = [n for n in analysis.nodes(cst.Name) if n.value == name]
            named = [a for a in passed if isinstance(a.value, cst.Name) and a.value.value == name]
            if name not in bound or len(uses) != 1 + len(named):  # bound once, used only here
                return None
            value = bound[name]
        if not isinstance(value, cst.Dict):
            return None
        for element in value.elements:
            if not (
                isinstance(element, cst.DictElement) and isinstance(element.key, cst.SimpleString)
            ):
                return None
            key = element.key.evaluated_value
            if not isinstance(key, str):
                return None
            found[key] = element.value
    return found


def _module_dicts(analysis: Analysis) -> dict[str, cst.Dict]:
    """Module-level names bound once, by a plain assignment, to a dict literal."""
    bound: dict[str, cst.Dict] = {}
    for statement in analysis.module.body:
        if not isinstance(statement, cst.SimpleStatementLine):
            continue
        for small in statement.body:
            if (
                isinstance(small, cst.Assign)
                and len(small.targets) == 1
                and isinstance(small.targets[0].target, cst.Name)
                and isinstance(small.value, cst.Dict)
            ):
                bound[small.targets[0].target.value] = small.value
    return bound
