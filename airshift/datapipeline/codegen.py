"""Writing a ``DagPlan`` as a Python module: built with ``ast``, then formatted by ruff.

Why ``ast``: no pipeline string is ever pasted into source text. Every value is an
``ast.Constant`` that ``ast.unparse`` escapes. Comments (the TODOs) cannot be expressed in
an AST, so they are placed through marker statements and the result is re-parsed and
compared with the AST it came from: a comment can never change what the code does.
"""

from __future__ import annotations

import ast
import datetime as dt
import secrets
import subprocess
from typing import Any

from airshift.datapipeline.plan import DagPlan
from airshift.datapipeline.pycode import Imports, Name, Symbol, TaskRef, to_ast
from airshift.datapipeline.schedule import TIMEDELTA
from airshift.datapipeline.templated import guard_call
from airshift.errors import AirshiftError
from airshift.tools import RUFF, binary

DAG = Symbol("airflow.sdk", "DAG")
PARAM = Symbol("airflow.sdk", "Param")
PENDULUM_DATETIME = Symbol("pendulum").attr("datetime")

_HELPERS: dict[str, tuple[str, list[Symbol]]] = {
    "dynamodb_table_exists": (
        '''def dynamodb_table_exists(table_name: str) -> bool:
    """Precondition: the DynamoDB table exists (DynamoDBTableExists / Exists)."""
    client = DynamoDBHook().conn.meta.client
    try:
        client.describe_table(TableName=table_name)
    except client.exceptions.ResourceNotFoundException:
        return False
    return True''',
        [Symbol("airflow.providers.amazon.aws.hooks.dynamodb", "DynamoDBHook")],
    ),
    "dynamodb_has_items": (
        '''def dynamodb_has_items(table_name: str) -> bool:
    """Precondition DynamoDBDataExists: the table holds at least one item."""
    client = DynamoDBHook().conn.meta.client
    return bool(client.scan(TableName=table_name, Limit=1).get("Items"))''',
        [Symbol("airflow.providers.amazon.aws.hooks.dynamodb", "DynamoDBHook")],
    ),
    "s3_text": (
        '''def s3_text(uri: str) -> str:
    """Template macro: the text of an S3 object (a SqlActivity scriptUri)."""
    return S3Hook().read_key(uri)''',
        [Symbol("airflow.providers.amazon.aws.hooks.s3", "S3Hook")],
    ),
    "shell_quote": (
        '''def shell_quote(value: object) -> str:
    """Template macro: a value quoted for a POSIX shell (SSM run-command scripts)."""
    return shlex.quote(str(value))''',
        [Symbol("shlex")],
    ),
    "load_csv_folder": (
        '''def load_csv_folder(bucket: str, folder: str, table: str, conn_id: str) -> None:
    """CopyActivity from an S3 folder to SQL: the CSV records of every file in the folder."""
    s3 = S3Hook()
    database = BaseHook.get_connection(conn_id).get_hook()
    prefix = folder.rstrip("/") + "/" if folder else ""
    for key in sorted(s3.list_keys(bucket_name=bucket, prefix=prefix)):
        if key.endswith("/"):
            continue  # a folder marker, not a file
        path = s3.download_file(key=key, bucket_name=bucket)
        try:
            with open(path, newline="") as handle:
                database.insert_rows(table=table, rows=csv.reader(handle))
        finally:
            os.remove(path)''',
        [
            Symbol("csv"),
            Symbol("os"),
            Symbol("airflow.providers.amazon.aws.hooks.s3", "S3Hook"),
            Symbol("airflow.sdk", "BaseHook"),
        ],
    ),
    "parse_csv": (
        '''def parse_csv(path: str) -> list[list[str]]:
    """Rows of a CSV file, for S3ToSqlOperator (CopyActivity from S3 to SQL)."""
    with open(path, newline="") as handle:
        return list(csv.reader(handle))''',
        [Symbol("csv")],
    ),
}


_MACROS = {"s3_text", "shell_quote"}  # helpers templates call, not operators


def _datetime(value: dt.datetime) -> Any:
    parts = [value.year, value.month, value.day]
    if value.hour or value.minute or value.second:
        parts += [value.hour, value.minute, value.second]
    return PENDULUM_DATETIME(*parts, tz="UTC")


def _comment(text: str) -> str:
    """One comment line; anything that could end the line is escaped."""
    safe = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)
    return "# " + safe


class _Module:
    def __init__(self) -> None:
        self.imports = Imports()
        self.comments: dict[str, list[str]] = {}
        # A fresh nonce per module: no pipeline text can spell a marker in advance.
        self.prefix = f"__airshift_{secrets.token_hex(8)}_"

    def marker(self, lines: list[str]) -> ast.stmt:
        key = f"{self.prefix}{len(self.comments)}"
        self.comments[key] = [_comment(line) for line in lines]
        return ast.Expr(ast.Constant(key))

    def value(self, value: Any) -> ast.expr:
        return to_ast(value, self.imports)


def generate(plan: DagPlan, source: str, catchup: bool) -> str:
    """The formatted DAG module for one plan."""
    module = _Module()
    body: list[ast.stmt] = []
    for name in sorted(plan.helpers):
        source_text, symbols = _HELPERS[name]
        for symbol in symbols:
            module.imports.use(symbol)
        body += ast.parse(source_text).body
    dag_kwargs: dict[str, Any] = {
        "dag_id": plan.dag_id,
        "dag_display_name": f"{plan.dag_id} (from AWS Data Pipeline)",
        "description": f"Converted from AWS Data Pipeline definition {source}.",
        "schedule": plan.schedule.timetable,
    }
    if plan.schedule.start:
        dag_kwargs["start_date"] = _datetime(plan.schedule.start)
    if plan.schedule.end:
        dag_kwargs["end_date"] = _datetime(plan.schedule.end)
    dag_kwargs["catchup"] = catchup
    if plan.max_active_runs is not None:
        dag_kwargs["max_active_runs"] = plan.max_active_runs
    if plan.dagrun_timeout is not None:
        seconds = int(plan.dagrun_timeout.total_seconds())
        dag_kwargs["dagrun_timeout"] = TIMEDELTA(seconds=seconds)
    if plan.deadlines:
        dag_kwargs["deadline"] = plan.deadlines
    if plan.params:
        dag_kwargs["params"] = {p.id: PARAM(p.default, **p.schema) for p in plan.params}
    macros = sorted(plan.helpers & _MACROS)
    if macros:
        dag_kwargs["user_defined_macros"] = {name: Name(name) for name in macros}
    dag_kwargs["tags"] = ["airshift", "aws-data-pipeline"]
    with_body: list[ast.stmt] = []
    if plan.dag_todos:
        with_body.append(module.marker([f"TODO(airshift): {t}" for t in plan.dag_todos]))
    with_body.append(ast.Assign([ast.Name("tasks")], ast.Dict([], []), lineno=0))
    for task in plan.tasks:
        if task.todos:
            with_body.append(module.marker([f"TODO(airshift): {t}" for t in task.todos]))
        call = ast.Call(
            module.value(task.operator),
            [],
            [
                ast.keyword(k, module.value(v))
                for k, v in guard_call(task.operator, task.kwargs).items()
            ],
        )
        target = ast.Subscript(ast.Name("tasks"), ast.Constant(task.task_id))
        with_body.append(ast.Assign([target], call, lineno=0))
    with_body += _edges(plan, module)
    dag_call = ast.Call(
        module.value(DAG), [], [ast.keyword(k, module.value(v)) for k, v in dag_kwargs.items()]
    )
    with_stmt = ast.With([ast.withitem(dag_call, ast.Name("dag"))], with_body, lineno=0)
    doc = ast.Expr(ast.Constant(_docstring(plan, source)))
    tree = ast.Module([doc, *module.imports.statements(), *body, with_stmt], [])
    ast.fix_missing_locations(tree)
    code = _place_comments(ast.unparse(tree), module)
    return format_code(code)


def _edges(plan: DagPlan, module: _Module) -> list[ast.stmt]:
    """``up >> down`` per upstream task (a list for fan-out), in task order."""
    order = {t.task_id: i for i, t in enumerate(plan.tasks)}
    downstream: dict[str, list[str]] = {}
    for up, down in plan.edges:
        downstream.setdefault(up, []).append(down)
    out: list[ast.stmt] = []
    for up in sorted(downstream, key=order.__getitem__):
        downs = sorted(downstream[up], key=order.__getitem__)
        right = module.value([TaskRef(d) for d in downs] if len(downs) > 1 else TaskRef(downs[0]))
        out.append(ast.Expr(ast.BinOp(module.value(TaskRef(up)), ast.RShift(), right)))
    for task in plan.tasks:
        if task.teardown_of:
            call = ast.Call(
                ast.Attribute(module.value(TaskRef(task.task_id)), "as_teardown"),
                [],
                [ast.keyword("setups", module.value(TaskRef(task.teardown_of)))],
            )
            out.append(ast.Expr(call))
    return out


def _docstring(plan: DagPlan, source: str) -> str:
    lines = [
        f"{plan.dag_id}: converted from AWS Data Pipeline by airshift.",
        "",
        f"Source definition: {source}",
        f"Activities: {', '.join(plan.activities)}",
        f"Schedule: {plan.schedule.summary}",
        "",
        "Review every TODO(airshift) comment and the conversion report before deploying.",
    ]
    return "\n".join("".join(ch if ch.isprintable() else "?" for ch in line) for line in lines)


def _place_comments(code: str, module: _Module) -> str:
    """Swap marker statements for comment lines, and prove nothing else changed."""
    out = []
    for line in code.splitlines():
        stripped = line.strip()
        key = stripped[1:-1] if len(stripped) > 2 and stripped[0] == stripped[-1] == "'" else ""
        if key in module.comments:
            indent = line[: len(line) - len(line.lstrip())]
            out += [indent + c for c in module.comments[key]]
        else:
            out.append(line)
    result = "\n".join(out) + "\n"
    if ast.dump(ast.parse(result)) != ast.dump(_without_markers(code, module)):
        raise AirshiftError("internal error: generated comments changed the generated code.")
    return result


def _without_markers(code: str, module: _Module) -> ast.Module:
    """The code's AST with the marker statements removed: what the comments must not change."""

    class Strip(ast.NodeTransformer):
        def visit_Expr(self, node: ast.Expr) -> ast.AST | None:
            value = node.value
            if isinstance(value, ast.Constant) and value.value in module.comments:
                return None
            return node

    return Strip().visit(ast.parse(code))


def format_code(code: str) -> str:
    """Sort imports and format with ruff, so the file is what an engineer would commit."""
    ruff = binary(RUFF)
    for args in (
        ["check", "--isolated", "--select", "I", "--fix", "--exit-zero", "--quiet"],
        ["format", "--isolated", "--line-length", "100"],
    ):
        proc = subprocess.run(
            [ruff, *args, "--stdin-filename", "dag.py", "-"],
            input=code,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise AirshiftError(f"internal error: ruff could not format the DAG: {proc.stderr}")
        code = proc.stdout
    return code
