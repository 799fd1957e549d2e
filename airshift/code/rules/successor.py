"""Calls of removed BigQuery operators that their successor runs the same way (AS162).

Why a codemod only for exact shapes: google 17.0.0 removed `BigQueryCreateEmptyTableOperator`
and `BigQueryCreateExternalTableOperator` for `BigQueryCreateTableOperator`, which takes the
whole table as `table_resource`. Read in the wheels (the old operators in 12.0.0 and 16.1.0,
the successor in 22.5.0 and 22.7.0, the targets' releases), a call of one of the shapes below
makes the successor send the same `Client.create_table` request (same body, `exists_ok`,
retry and timeout), handle an existing table the same way, persist the same
`BigQueryTableLink`, report the same OpenLineage output and return nothing (no XCom):

- `BigQueryCreateEmptyTableOperator` passing `dataset_id`, `table_id` and at most
  `project_id`, `impersonation_chain`, `if_exists` and a literal `schema_fields`: the body
  is `{"schema": {"fields": ...}}` in both. The successor templates `table_resource`, so the
  schema must be a literal whose strings render to themselves (no Jinja markers, no newline,
  nothing a native-object render turns into another type). The old hook also put the
  connection's `location` extra into the body, a field the Table resource documents as
  output only (inherited from the dataset), which the server must ignore without error
  (`OUTPUT_ONLY` in `google.api.FieldBehavior`, AIP-203).
- `BigQueryCreateExternalTableOperator` passing a literal `table_resource` whose
  `tableReference` names `datasetId` and `tableId`, and at most `impersonation_chain` and
  `bucket`: the old operator sent that resource as is with `exists_ok=True`, which the
  successor does with `if_exists="ignore"`; its required `dataset_id` and `table_id` are the
  reference's own (the hook uses them only for a resource without a reference). The old
  operator never read `bucket` then, but rendered it as a template: dropping it is safe when
  it is a plain string, and unsafe otherwise (a template in it that failed to render failed
  the old task).

Any other argument (`location`, `time_partitioning`, `view`, a schema from a variable, ...) is
a finding without a fix. Airflow fills the arguments a class takes from `default_args`, so a
rewrite is unsafe when they set one the two classes take differently, or cannot be read.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import libcst as cst
from libcst.codemod import CodemodContext
from libcst.codemod.visitors import AddImportsVisitor

from airshift.code import provider_pins
from airshift.code.findings import Applicability, Severity
from airshift.code.rules.base import Analysis, FixAvailability, Hit, Rule, RuleContext, allowed
from airshift.code.rules.default_args import default_args
from airshift.code.rules.rename import rename_imports
from airshift.code.signatures import signature_table
from airshift.code.target import Target

BIGQUERY = "airflow.providers.google.cloud.operators.bigquery"
SUCCESSOR = "BigQueryCreateTableOperator"
JINJA_MARKERS = ("{{", "{%", "{#")
# The successor's own arguments; one the old call passes goes to the base operator on the
# source and would mean something else (or nothing) here.
SUCCESSOR_OWN = frozenset(
    {
        "dataset_id",
        "table_id",
        "table_resource",
        "project_id",
        "location",
        "gcs_schema_object",
        "gcp_conn_id",
        "google_cloud_storage_conn_id",
        "impersonation_chain",
        "if_exists",
        "retry",
        "timeout",
    }
)

# The arguments each removed operator took itself.
EMPTY_TABLE_OWN = frozenset(
    {
        "dataset_id",
        "table_id",
        "table_resource",
        "project_id",
        "schema_fields",
        "gcs_schema_object",
        "time_partitioning",
        "gcp_conn_id",
        "google_cloud_storage_conn_id",
        "labels",
        "view",
        "materialized_view",
        "encryption_configuration",
        "location",
        "cluster_fields",
        "impersonation_chain",
        "if_exists",
        "bigquery_conn_id",
        "exists_ok",
    }
)
EXTERNAL_TABLE_OWN = frozenset(
    {
        "bucket",
        "source_objects",
        "destination_project_dataset_table",
        "table_resource",
        "schema_fields",
        "schema_object",
        "gcs_schema_bucket",
        "source_format",
        "autodetect",
        "compression",
        "skip_leading_rows",
        "field_delimiter",
        "max_bad_records",
        "quote_character",
        "allow_quoted_newlines",
        "allow_jagged_rows",
        "gcp_conn_id",
        "google_cloud_storage_conn_id",
        "src_fmt_configs",
        "labels",
        "encryption_configuration",
        "location",
        "impersonation_chain",
        "bigquery_conn_id",
    }
)


@dataclass(frozen=True)
class Plan:
    """What to do with one call: the successor's keyword arguments (None: no exact one), why
    not or why unsafe, and how far the rewrite can be trusted."""

    args: list[cst.Arg] | None
    reason: str = ""
    fix: Applicability | None = None


SAFE, UNSAFE = Applicability.SAFE, Applicability.UNSAFE


def _keywords(call: cst.Call) -> dict[str, cst.Arg] | str:
    """The call's keyword arguments by name, or why they cannot be read."""
    if any(a.keyword is None for a in call.args):
        return "it passes positional or `**` arguments"
    return {a.keyword.value: a for a in call.args if a.keyword}


def _unknown(keywords: dict[str, cst.Arg], own: frozenset[str], taken: set[str]) -> str:
    """Why not, when the call passes an argument of either operator that the shape does not
    take ('' when it passes none)."""
    other = sorted((keywords.keys() & (own | SUCCESSOR_OWN)) - taken)
    return f"it passes `{other[0]}`" if other else ""


def _empty_table(call: cst.Call, analysis: Analysis) -> Plan:
    keywords = _keywords(call)
    if isinstance(keywords, str):
        return Plan(None, keywords)
    if not {"dataset_id", "table_id"} <= keywords.keys():
        return Plan(None, "it does not pass both `dataset_id` and `table_id`")
    taken = {"dataset_id", "table_id", "project_id", "impersonation_chain", "if_exists"}
    unknown = _unknown(keywords, EMPTY_TABLE_OWN, taken | {"schema_fields"})
    if unknown:
        return Plan(None, unknown)
    schema = keywords.get("schema_fields")
    if schema is None:  # no schema: the old hook sent an empty body, as `{}` does
        return Plan(_append(call.args, [_keyword("table_resource", cst.Dict([]))]), fix=SAFE)
    code = analysis.module.code_for_node(schema.value)
    if not _renders_to_itself(code):
        return Plan(None, "its `schema_fields` is not a literal the successor's templating keeps")
    resource = cst.Dict([])  # an empty schema (`[]`, `None`): the old hook sent no schema
    if ast.literal_eval(code):
        fields = cst.Dict([cst.DictElement(cst.SimpleString('"fields"'), schema.value)])
        resource = cst.Dict([cst.DictElement(cst.SimpleString('"schema"'), fields)])
    args = [
        a.with_changes(keyword=cst.Name("table_resource"), value=resource) if a is schema else a
        for a in call.args
    ]
    return Plan(args, fix=SAFE)


def _external_table(call: cst.Call, analysis: Analysis) -> Plan:
    keywords = _keywords(call)
    if isinstance(keywords, str):
        return Plan(None, keywords)
    unknown = _unknown(
        keywords, EXTERNAL_TABLE_OWN, {"table_resource", "bucket", "impersonation_chain"}
    )
    if unknown:
        return Plan(None, unknown)
    resource = keywords.get("table_resource")
    reference = _entry(resource.value, "tableReference") if resource else None
    dataset, table = (_entry(reference, k) if reference else None for k in ("datasetId", "tableId"))
    if dataset is None or table is None or not (_pure(dataset) and _pure(table)):
        return Plan(None, "its `table_resource` is not a literal naming `datasetId` and `tableId`")
    bucket = keywords.get("bucket")
    plain = bucket is None or _renders_to_itself(analysis.module.code_for_node(bucket.value))
    args = [a for a in call.args if a is not bucket]
    if bucket is call.args[-1]:  # the new last argument keeps the call's closing style
        args[-1] = args[-1].with_changes(
            comma=bucket.comma, whitespace_after_arg=bucket.whitespace_after_arg
        )
    added = [
        _keyword("dataset_id", dataset),
        _keyword("table_id", table),
        _keyword("if_exists", cst.SimpleString('"ignore"')),
    ]
    if plain:
        return Plan(_append(args, added), fix=SAFE)
    return Plan(_append(args, added), "`bucket`, which it drops, is not a plain string", UNSAFE)


def _keyword(name: str, value: cst.BaseExpression) -> cst.Arg:
    return cst.Arg(
        keyword=cst.Name(name),
        value=value,
        equal=cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace("")),
    )


def _append(args: Sequence[cst.Arg], added: list[cst.Arg]) -> list[cst.Arg]:
    """``args`` then ``added``, separated as the call separates its arguments (one per line
    or all on one line); the new last one takes the old last one's trailing comma and the
    space before the closing parenthesis."""
    last = args[-1]
    between = args[-2].comma if len(args) > 1 else cst.MaybeSentinel.DEFAULT
    if not isinstance(between, cst.Comma):
        between = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
    chain = [
        *args[:-1],
        last.with_changes(comma=between, whitespace_after_arg=cst.SimpleWhitespace("")),
        *(a.with_changes(comma=between) for a in added[:-1]),
        added[-1].with_changes(comma=last.comma, whitespace_after_arg=last.whitespace_after_arg),
    ]
    return chain


def _entry(node: cst.BaseExpression | None, key: str) -> cst.BaseExpression | None:
    """The value of ``key`` in a dict literal (None: not a dict literal, or no such key)."""
    if not isinstance(node, cst.Dict):
        return None
    found = [
        e.value
        for e in node.elements
        if isinstance(e, cst.DictElement)
        and isinstance(e.key, cst.SimpleString)
        and e.key.evaluated_value == key
    ]
    return found[0] if len(found) == 1 else None


def _pure(node: cst.BaseExpression) -> bool:
    """Whether evaluating ``node`` twice gives the same value and does nothing else: a name,
    a string, or an f-string of names."""
    if isinstance(node, cst.Name | cst.SimpleString):
        return True
    if isinstance(node, cst.ConcatenatedString):
        return _pure(node.left) and _pure(node.right)
    if isinstance(node, cst.FormattedString):
        return all(
            isinstance(p, cst.FormattedStringText)
            or (isinstance(p, cst.FormattedStringExpression) and isinstance(p.expression, cst.Name))
            for p in node.parts
        )
    return False


def _renders_to_itself(code: str) -> bool:
    """Whether ``code`` is a literal of lists, dicts, numbers, booleans and strings that
    Airflow's template rendering returns unchanged, native-object rendering included."""
    try:
        value = ast.literal_eval(code)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return False
    return _plain(value)


def _plain(value: object) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    if isinstance(value, str):
        if any(m in value for m in JINJA_MARKERS) or "\n" in value or "\r" in value:
            return False
        try:  # jinja's native rendering turns "1" or "[]" into a number or a list
            ast.literal_eval(value)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return True
        return False
    return value is None or isinstance(value, bool | int | float)


@dataclass(frozen=True)
class Removed:
    """A removed operator: its path, how a call of it becomes a call of the successor, the
    arguments it took itself, and of those the ones the successor takes with the same meaning
    (``same``) or the same when a plain string (``plain``: templated in one of the two)."""

    path: str
    plan: Callable[[cst.Call, Analysis], Plan]
    own: frozenset[str]
    same: frozenset[str]
    plain: frozenset[str]

    @property
    def short(self) -> str:
        return self.path.rpartition(".")[2]


CONN_IDS = frozenset({"gcp_conn_id", "google_cloud_storage_conn_id"})
REMOVED = (
    Removed(
        f"{BIGQUERY}.BigQueryCreateEmptyTableOperator",
        _empty_table,
        EMPTY_TABLE_OWN,
        frozenset({"dataset_id", "table_id", "project_id", "impersonation_chain", "if_exists"}),
        CONN_IDS,
    ),
    Removed(
        f"{BIGQUERY}.BigQueryCreateExternalTableOperator",
        _external_table,
        EXTERNAL_TABLE_OWN,
        frozenset({"impersonation_chain"}),
        CONN_IDS | {"bucket"},  # bucket: rendered, never read with a table_resource
    ),
)


def _defaults_differ(
    call: cst.Call, removed: Removed, plan: Plan, defaults: dict[str, cst.BaseExpression] | None
) -> str:
    """Why the DAG's `default_args` may fill the two calls differently ('' when they cannot):
    Airflow fills each argument a class takes and the call does not pass."""
    if defaults is None:
        return "the file's `default_args` cannot be read, and Airflow fills arguments from them"
    old_passed = {a.keyword.value for a in call.args if a.keyword}
    new_passed = {a.keyword.value for a in plan.args or [] if a.keyword}
    for key, value in defaults.items():
        old = key in removed.own and key not in old_passed
        new = key in SUCCESSOR_OWN and key not in new_passed
        if not (old or new) or (old and new and key in removed.same):
            continue
        if key in removed.plain and _renders_to_itself(cst.Module([]).code_for_node(value)):
            continue
        return f"`default_args` set `{key}`, which the two classes take differently"
    return ""


def _plans(analysis: Analysis, ctx: RuleContext) -> list[tuple[cst.Call, Removed, Plan]]:
    """Every call of a removed operator the target lacks and the requirements do not bring
    back, with what to do with it."""
    gone = {
        path
        for path in signature_table(ctx.target).removed
        if not provider_pins.satisfied(path, ctx.target, ctx.requirements)
    }
    clash = any(
        n.value == SUCCESSOR and f"{BIGQUERY}.{SUCCESSOR}" not in analysis.names(n)
        for n in analysis.nodes(cst.Name)
    )
    defaults = default_args(analysis)
    found = []
    for call in analysis.nodes(cst.Call):
        names = analysis.names(call.func)
        for removed in REMOVED:
            if removed.path in names and removed.path in gone:
                plan = removed.plan(call, analysis)
                if clash and plan.args is not None:
                    plan = Plan(None, f"the file already uses the name `{SUCCESSOR}`")
                differ = _defaults_differ(call, removed, plan, defaults) if plan.args else ""
                if differ and plan.fix is SAFE:
                    plan = Plan(plan.args, differ, UNSAFE)
                elif differ:
                    plan = Plan(plan.args, f"{plan.reason}, and {differ}", UNSAFE)
                found.append((call, removed, plan))
    return found


class SuccessorOperatorRule(Rule):
    """A call of a removed BigQuery operator whose successor does exactly the same.

    ## What it does
    Rewrites calls of `BigQueryCreateEmptyTableOperator` and
    `BigQueryCreateExternalTableOperator` (removed in google 17.0.0) to
    `BigQueryCreateTableOperator` with the table as `table_resource`, for the call shapes
    that, read in both providers' code, create the same table with the same BigQuery
    request, treat an existing table the same way, show the same link and push no XCom:
    an empty table with `dataset_id`, `table_id`, at most `project_id`,
    `impersonation_chain`, `if_exists` and a literal `schema_fields`; an external table from
    a literal `table_resource` naming its dataset and table (its `exists_ok=True` becomes
    `if_exists="ignore"`; dropping a `bucket` that is not a plain string is unsafe, since the
    old operator rendered it as a template). The fix is unsafe, too, when the DAG's
    `default_args` set an argument the two classes take differently, or cannot be read.
    Other calls are reported without a fix, and AS161 offers the older provider release
    that still has the class.

    ## Why is this bad?
    The DAG file fails with `ImportError` on the target; an older google provider brings
    the class back but may break other google classes on Airflow 3.

    ## Example
    ```python
    BigQueryCreateEmptyTableOperator(
        task_id="create",
        dataset_id="d",
        table_id="t",
        schema_fields=[{"name": "id", "type": "INTEGER"}],
    )
    ```

    ## Use instead
    ```python
    BigQueryCreateTableOperator(
        task_id="create",
        dataset_id="d",
        table_id="t",
        table_resource={"schema": {"fields": [{"name": "id", "type": "INTEGER"}]}},
    )
    ```
    """

    code = "AS162"
    name = "successor-operator"
    fix_availability = FixAvailability.SOMETIMES

    def applies(self, target: Target) -> bool:
        """Only where the target's providers no longer have a class this rule knows."""
        return any(r.path in signature_table(target).removed for r in REMOVED)

    def check(self, analysis: Analysis, ctx: RuleContext) -> list[Hit]:
        hits = []
        for call, removed, plan in _plans(analysis, ctx):
            gone = f"`{removed.short}` was removed in google 17.0.0; `{SUCCESSOR}`"
            if plan.args is None:
                message = f"{gone} takes a `table_resource`, but {plan.reason}: rewrite it by hand."
            elif plan.fix is UNSAFE:
                message = f"{gone} does the same for this call, except that {plan.reason}."
            else:
                message = f"{gone} with the table as `table_resource` does the same for this call."
            hits.append(Hit(analysis.line(call), Severity.BREAKS, message, plan.fix))
        return hits

    def fix(self, analysis: Analysis, ctx: RuleContext, unsafe: bool = False) -> cst.Module:
        plans = {
            call: (removed, plan.args)
            for call, removed, plan in _plans(analysis, ctx)
            if plan.args is not None and allowed(plan.fix, unsafe)
        }
        if not plans:
            return analysis.module
        moved = {
            removed.path: f"{BIGQUERY}.{SUCCESSOR}"
            for removed in REMOVED
            if _only_called(
                analysis, removed, {c.func for c, (r, _) in plans.items() if r is removed}
            )
        }
        # an import whose every use is rewritten becomes the successor's import in place,
        # which renames the calls too (an ``as X`` name is kept); any other rewritten call is
        # renamed here and gets the successor imported beside the old class
        fixed = analysis.module.visit(_ToSuccessor(plans, set(moved)))
        fixed = rename_imports(fixed, moved)
        if any(removed.path not in moved for removed, _ in plans.values()):
            context = CodemodContext()
            AddImportsVisitor.add_needed_import(context, BIGQUERY, SUCCESSOR)
            fixed = AddImportsVisitor(context).transform_module(fixed)
        return fixed


def replaced(analysis: Analysis, ctx: RuleContext) -> set[str]:
    """The removed classes whose every use is a call that `code upgrade` rewrites with a safe
    fix: their import goes too, so there is nothing left for AS161 to bring back."""
    safe = [(c, r) for c, r, plan in _plans(analysis, ctx) if plan.fix is SAFE]
    return {
        removed.path
        for removed in REMOVED
        if _only_called(analysis, removed, {c.func for c, r in safe if r is removed})
    }


def _only_called(analysis: Analysis, removed: Removed, funcs: set[cst.BaseExpression]) -> bool:
    """Whether every use of the class is a plain name among ``funcs`` (the rewritten calls)."""
    uses = [
        node
        for kind in (cst.Name, cst.Attribute)
        for node in analysis.nodes(kind)
        if removed.path in analysis.names(node) and not analysis.inside(node, cst.ImportFrom)
    ]
    return bool(uses) and all(isinstance(u, cst.Name) and u in funcs for u in uses)


class _ToSuccessor(cst.CSTTransformer):
    """Each planned call with the successor's arguments; its callee becomes the successor's
    name unless the import rename does that (a plain name bound by the moved import)."""

    def __init__(
        self, plans: dict[cst.Call, tuple[Removed, list[cst.Arg]]], moved: set[str]
    ) -> None:
        super().__init__()
        self.plans = plans
        self.moved = moved

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.Call:
        planned = self.plans.get(original)
        if planned is None:
            return updated
        removed, args = planned
        if removed.path not in self.moved:
            updated = updated.with_changes(func=cst.Name(SUCCESSOR))
        return updated.with_changes(args=args)
