"""Context variables removed in Airflow 3, in Jinja templates (AS130) and in task code (AS131).

Why: ``{{ execution_date }}``, ``{{ next_ds }}`` and ``context["execution_date"]`` still parse
and import, so no import check sees them; they fail when the task runs (templates render with
StrictUndefined). ruff has no rule for templates. The fix covers the one exact rename,
``execution_date`` -> ``logical_date``; the other keys need a human decision (for instance
``next_ds`` is ``{{ data_interval_end | ds }}`` only for interval-based schedules).
"""

from __future__ import annotations

import re

import libcst as cst

from airshift.code.findings import Applicability
from airshift.code.rules.base import (
    Analysis,
    FixAvailability,
    Hit,
    Rule,
    RuleContext,
    removed_in,
)

REMOVED_KEYS = {
    "execution_date": "logical_date",
    "next_execution_date": "data_interval_end",
    "prev_execution_date": "prev_data_interval_start_success",
    "prev_execution_date_success": "prev_data_interval_start_success",
    "next_ds": "data_interval_end | ds",
    "next_ds_nodash": "data_interval_end | ds_nodash",
    "prev_ds": "prev_data_interval_start_success | ds",
    "prev_ds_nodash": "prev_data_interval_start_success | ds_nodash",
    "tomorrow_ds": "(logical_date + macros.timedelta(days=1)) | ds",
    "tomorrow_ds_nodash": "(logical_date + macros.timedelta(days=1)) | ds_nodash",
    "yesterday_ds": "(logical_date - macros.timedelta(days=1)) | ds",
    "yesterday_ds_nodash": "(logical_date - macros.timedelta(days=1)) | ds_nodash",
}
EXACT_RENAME = {"execution_date": "logical_date"}
CONTEXT_NAMES = {"context", "ctx", "kwargs", "kw", "kwds"}
_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.DOTALL)
_KEY = re.compile(r"\b(" + "|".join(sorted(REMOVED_KEYS, key=len, reverse=True)) + r")\b")


def _template_keys(text: str) -> list[str]:
    return [k for block in _JINJA.findall(text) for k in _KEY.findall(block)]


def _subscript_key(node: cst.Subscript) -> str | None:
    """``"execution_date"`` for ``context["execution_date"]``, else None."""
    if not (isinstance(node.value, cst.Name) and node.value.value in CONTEXT_NAMES):
        return None
    if len(node.slice) != 1 or not isinstance(node.slice[0].slice, cst.Index):
        return None
    key = node.slice[0].slice.value
    if isinstance(key, cst.SimpleString) and key.evaluated_value in REMOVED_KEYS:
        return str(key.evaluated_value)
    return None


def _advice(key: str) -> str:
    return f"use `{REMOVED_KEYS[key]}`"


class TemplateContextRule(Rule):
    """Context variables removed in Airflow 3, used in Jinja templates.

    ## What it does
    Finds `{{ execution_date }}`, `{{ next_ds }}`, `{{ prev_ds }}`, `{{ tomorrow_ds }}` and the
    other removed keys inside template strings, and renames `execution_date` to its exact
    equivalent `logical_date`. The other keys are reported with their replacement, which
    depends on the schedule (`next_ds` is `{{ data_interval_end | ds }}` only for interval
    schedules), so a person decides.

    ## Why is this bad?
    The file imports fine, but the task fails when it runs: templates render with
    `StrictUndefined` and the key no longer exists.

    ## Example
    ```python
    BashOperator(task_id="t", bash_command="run.sh {{ execution_date }}")
    ```

    ## Use instead
    ```python
    BashOperator(task_id="t", bash_command="run.sh {{ logical_date }}")
    ```
    """

    code = "AS130"
    name = "template-context-key"
    fix_availability = FixAvailability.SOMETIMES
    supersedes = frozenset({"AIR301"})
    since = "2.2"  # ``logical_date`` and data intervals exist since 2.2

    def check(self, analysis: Analysis, ctx: RuleContext) -> list[Hit]:
        return [
            Hit(
                analysis.line(string),
                removed_in(ctx.target, 3),
                f"Template variable `{key}` was removed in Airflow 3; {_advice(key)}.",
                Applicability.SAFE if key in EXACT_RENAME else None,
            )
            for string in analysis.nodes(cst.SimpleString)
            for key in dict.fromkeys(_template_keys(str(string.evaluated_value)))
        ]

    def fix(self, analysis: Analysis, ctx: RuleContext, unsafe: bool = False) -> cst.Module:
        return analysis.module.visit(_RenameTemplateKeys())


class ContextKeyRule(Rule):
    """Context keys removed in Airflow 3, read in task code (`context["execution_date"]`).

    ## What it does
    Finds subscripts of the task context (`context`, `ctx`, `kwargs`, ...) with a removed key
    and renames `execution_date` to `logical_date`; other keys are reported.

    ## Why is this bad?
    The task fails with `KeyError` when it runs on Airflow 3.

    ## Example
    ```python
    def run(**context):
        day = context["execution_date"]
    ```

    ## Use instead
    ```python
    def run(**context):
        day = context["logical_date"]
    ```
    """

    code = "AS131"
    name = "context-key"
    fix_availability = FixAvailability.SOMETIMES
    supersedes = frozenset({"AIR301"})
    since = "2.2"

    def check(self, analysis: Analysis, ctx: RuleContext) -> list[Hit]:
        hits = []
        for subscript in analysis.nodes(cst.Subscript):
            found = _subscript_key(subscript)
            if found:
                hits.append(
                    Hit(
                        analysis.line(subscript),
                        removed_in(ctx.target, 3),
                        f'Context key "{found}" was removed in Airflow 3; {_advice(found)}.',
                        Applicability.SAFE if found in EXACT_RENAME else None,
                    )
                )
        return hits

    def fix(self, analysis: Analysis, ctx: RuleContext, unsafe: bool = False) -> cst.Module:
        return analysis.module.visit(_RenameContextKeys())


class _RenameTemplateKeys(cst.CSTTransformer):
    def leave_SimpleString(
        self, original: cst.SimpleString, updated: cst.SimpleString
    ) -> cst.SimpleString:
        def rename_block(match: re.Match[str]) -> str:
            return re.sub(r"\bexecution_date\b", "logical_date", match.group(0))

        value = _JINJA.sub(rename_block, updated.value)
        return updated.with_changes(value=value)


class _RenameContextKeys(cst.CSTTransformer):
    def leave_Subscript(self, original: cst.Subscript, updated: cst.Subscript) -> cst.Subscript:
        if _subscript_key(original) not in EXACT_RENAME:
            return updated
        key = cst.ensure_type(updated.slice[0].slice, cst.Index).value
        new_key = cst.ensure_type(key, cst.SimpleString)
        index = cst.Index(
            new_key.with_changes(value=new_key.value.replace("execution_date", "logical_date"))
        )
        return updated.with_changes(slice=[updated.slice[0].with_changes(slice=index)])
