"""Evaluating Data Pipeline expressions into Airflow Jinja templates.

Why split static from run-time: references (``#{input.directoryPath}``, ``#{node.name}``,
``#{myField}``) are fixed by the definition, so they are resolved at conversion time and
the generated DAG shows real values. Only run-time values (scheduled times, actual times,
error messages, parameters the user may override) become Jinja over the Airflow context.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from airshift.datapipeline import expressions as ex
from airshift.datapipeline.jinja import Jinja, Template, joda_to_strftime, literal
from airshift.datapipeline.model import Parameter, Pipeline, PipelineObject, Ref
from airshift.errors import AirshiftError

_ISO = "%Y-%m-%dT%H:%M:%S"
_UNITS = {"Minutes", "Hours", "Days", "Weeks", "Months", "Years"}


@dataclass(frozen=True)
class TimeBase:
    """Jinja expressions for ``@scheduledStartTime`` and ``@scheduledEndTime`` in one DAG."""

    start: str
    end: str


@dataclass
class Notes:
    """TODOs and assumptions, keyed by the pipeline object they concern."""

    todos: list[tuple[str, str]] = field(default_factory=list)
    assumptions: list[tuple[str, str]] = field(default_factory=list)

    def todo(self, object_id: str, message: str) -> None:
        if (object_id, message) not in self.todos:
            self.todos.append((object_id, message))

    def assume(self, object_id: str, message: str) -> None:
        if (object_id, message) not in self.assumptions:
            self.assumptions.append((object_id, message))


@dataclass(frozen=True)
class Static:
    value: str | int | float | dt.datetime


@dataclass(frozen=True)
class Dynamic:
    expr: str
    kind: str  # "int", "float", "string" or "datetime"
    template: Template | None = None  # a referenced field's text, spliced in as it is


@dataclass(frozen=True)
class ObjectValue:
    obj: PipelineObject


Val = Static | Dynamic | ObjectValue


def secret_parameter_ids(pipeline: Pipeline) -> set[str]:
    """Secret parameters, plus any parameter that feeds a ``*password``-like field."""
    params = pipeline.definition.parameters
    secret = {pid for pid, p in params.items() if p.secret}
    for obj in pipeline.objects.values():
        for key, values in obj.fields.items():
            if key.startswith("*"):
                for value in values:
                    if isinstance(value, str):
                        secret |= set(re.findall(r"#\{\s*(\*?my\w+)\s*\}", value)) & set(params)
    return secret


class Translator:
    """Turns field values of one DAG's objects into ``Template``s."""

    def __init__(self, pipeline: Pipeline, time: TimeBase, notes: Notes) -> None:
        self.pipeline = pipeline
        self.time = time
        self.notes = notes
        self.parameters: dict[str, Parameter] = pipeline.definition.parameters
        self.secret_ids = secret_parameter_ids(pipeline)
        self.used_params: list[str] = []
        self.used_secrets: list[str] = []
        self._stack: list[tuple[str, str]] = []

    # -- entry points -------------------------------------------------------------------
    def field(
        self, obj: PipelineObject, key: str, node: PipelineObject | None = None
    ) -> Template | None:
        """The first value of ``obj.key`` as a template, or None when the field is unset."""
        values = self.fields(obj, key, node)
        return values[0] if values else None

    def fields(
        self, obj: PipelineObject, key: str, node: PipelineObject | None = None
    ) -> list[Template]:
        """All values of a repeatable field; an array parameter expands into its items."""
        out = []
        for value in self.pipeline.strings(obj, key):
            where = f"object {obj.id!r} field {key!r}"
            items = self._array_items(value)
            if items is None:
                out.append(self.text(obj, value, where, node))
                continue
            self.notes.assume(
                obj.id,
                f"{where}: array parameter {value.strip()} expanded at conversion time "
                f"into {len(items)} value(s); overriding it at trigger time has no effect here.",
            )
            out += [Template.text(item) for item in items]
        return out

    def _array_items(self, value: str) -> list[str] | None:
        """The items of ``#{myArray}`` when the whole value is one array parameter."""
        match = re.fullmatch(r"\s*#\{\s*(my\w+)\s*\}\s*", value)
        param = self.parameters.get(match.group(1)) if match else None
        if param is None or not param.is_array or param.secret:
            return None
        items = self.pipeline.definition.values.get(param.id, param.default)
        return [items] if isinstance(items, str) else list(items or [])

    def text(
        self, obj: PipelineObject, text: str, where: str, node: PipelineObject | None = None
    ) -> Template:
        out = Template()
        for part in ex.split_template(text, where):
            if isinstance(part, str):
                out += part
            else:
                out += self.to_template(self.evaluate(part, obj, node, where), where)
        return out

    # -- evaluation ---------------------------------------------------------------------
    def to_template(self, value: Val, where: str) -> Template:
        if isinstance(value, ObjectValue):
            return Template.text(value.obj.id)
        if isinstance(value, Static):
            if isinstance(value.value, dt.datetime):
                return Template.text(value.value.strftime(_ISO))
            return Template.text(str(value.value))
        if value.template is not None:
            return value.template
        if value.kind == "datetime":
            return Template([Jinja(f"{value.expr}.strftime({literal(_ISO)})")])
        return Template([Jinja(value.expr)])

    def evaluate(
        self, node_: ex.Expr, obj: PipelineObject, node: PipelineObject | None, where: str
    ) -> Val:
        if isinstance(node_, ex.Num):
            return Static(node_.value)
        if isinstance(node_, ex.Str):
            return Static(node_.value)
        if isinstance(node_, ex.Neg):
            inner = self.evaluate(node_.operand, obj, node, where)
            if isinstance(inner, Static) and isinstance(inner.value, int | float):
                return Static(-inner.value)
            return Dynamic(f"-({self._number(inner, where)})", "float")
        if isinstance(node_, ex.BinOp):
            return self._binop(node_, obj, node, where)
        if isinstance(node_, ex.Path):
            return self._path(node_, obj, node, where)
        args = [self.evaluate(a, obj, node, where) for a in node_.args]
        return self._call(node_.name, args, where)

    def _path(
        self, path: ex.Path, obj: PipelineObject, node: PipelineObject | None, where: str
    ) -> Val:
        first, rest = path.parts[0], path.parts[1:]
        if path.secret:
            if rest:
                raise AirshiftError(f"{where}: #{{*{'.'.join(path.parts)}}} is not a parameter.")
            return self._parameter(f"*{first}", where)
        if first == "node":
            if node is None:
                raise AirshiftError(
                    f"{where}: #{{node...}} is only meaningful in preconditions and alarms."
                )
            current: Val = ObjectValue(node)
        else:
            current = self._member(obj, first, where, own=True)
        for part in rest:
            if not isinstance(current, ObjectValue):
                raise AirshiftError(f"{where}: cannot read {part!r} of a value in {path.parts}.")
            current = self._member(current.obj, part, where, own=False)
        return current

    def _member(self, obj: PipelineObject, name: str, where: str, own: bool) -> Val:
        if name.startswith("@"):
            return self._runtime(obj, name, where, own)
        if name in ("id", "name"):
            return Static(obj.id if name == "id" else obj.name)
        values = self.pipeline.get(obj, name)
        if not values:
            if own and name in self.parameters:
                return self._parameter(name, where)
            if name in ("errorMessage", "errorId", "errorStackTrace", "hostname"):
                return self._runtime(obj, "@" + name, where, own)
            if own and re.fullmatch(r"my[A-Z_]\w*", name):
                # The console supplies parameter objects some published samples leave out.
                self.parameters[name] = Parameter(
                    name, description="not declared in the definition"
                )
                self.notes.todo(
                    name,
                    f"parameter {name!r} is used but not declared; it became a string param "
                    "without a value.",
                )
                return self._parameter(name, where)
            raise AirshiftError(
                f"{where}: #{{{name}}} is neither a field of object {obj.id!r} "
                "nor a declared parameter."
            )
        if len(values) > 1:
            self.notes.todo(obj.id, f"{where}: #{{{name}}} has several values; the first is used.")
        value = values[0]
        if isinstance(value, Ref):
            return ObjectValue(self.pipeline.objects[value.id])
        key = (obj.id, name)
        if key in self._stack:
            chain = " -> ".join(f"{o}.{f}" for o, f in [*self._stack, key])
            raise AirshiftError(f"{where}: expression references form a cycle: {chain}.")
        self._stack.append(key)
        try:
            template = self.text(obj, value, f"object {obj.id!r} field {name!r}")
        finally:
            self._stack.pop()
        if template.is_static:
            return Static(template.static)
        return Dynamic(template.as_expr(), "string", template)

    def _runtime(self, obj: PipelineObject, name: str, where: str, own: bool) -> Val:
        mapping = {
            "@scheduledStartTime": Dynamic(self.time.start, "datetime"),
            "@scheduledEndTime": Dynamic(self.time.end, "datetime"),
            "@actualStartTime": Dynamic("ti.start_date", "datetime"),
            "@actualEndTime": Dynamic("ti.end_date", "datetime"),
            "@status": Dynamic("ti.state", "string"),
            "@errorMessage": Dynamic("exception", "string"),
            "@pipelineId": Dynamic("dag.dag_id", "string"),
        }
        if name == "@id":
            if not own:
                return Static(obj.id)
            self.notes.assume(
                obj.id, f"{where}: #{{@id}} (an instance id) became '<object id>_<run_id>'."
            )
            return Dynamic(f"{literal(obj.id + '_')} ~ run_id", "string")
        if name in mapping:
            if name == "@errorMessage":
                self.notes.assume(
                    "#{node.errorMessage}", "rendered as Airflow's exception text in the callback."
                )
            return mapping[name]
        self.notes.todo(obj.id, f"{where}: run-time field {name} has no Airflow equivalent.")
        return Static("")

    def _parameter(self, pid: str, where: str) -> Val:
        if pid not in self.parameters:
            raise AirshiftError(f"{where}: #{{{pid}}} is not a declared parameter.")
        if pid in self.secret_ids:
            name = pid.lstrip("*")
            if name not in self.used_secrets:
                self.used_secrets.append(name)
            return Dynamic(f"var.value.get({literal(name)})", "string")
        if pid not in self.used_params:
            self.used_params.append(pid)
        if self.parameters[pid].is_array:
            self.notes.todo(
                pid,
                f"{where}: array parameter inside text renders as a list; DP would expand it.",
            )
        kind = {"Integer": "int", "Double": "float"}.get(self.parameters[pid].type, "string")
        ref = f"params.{pid}" if pid.isidentifier() else f"params[{literal(pid)}]"
        return Dynamic(ref, kind)

    # -- operators and functions --------------------------------------------------------
    def _number(self, value: Val, where: str) -> str:
        if isinstance(value, Static) and isinstance(value.value, int | float):
            return repr(value.value)
        if isinstance(value, Dynamic) and value.kind in ("int", "float"):
            return value.expr
        if isinstance(value, Dynamic) and value.kind == "string":
            return f"({value.expr}) | float"
        raise AirshiftError(f"{where}: expected a number.")

    def _binop(
        self, node_: ex.BinOp, obj: PipelineObject, node: PipelineObject | None, where: str
    ) -> Val:
        left = self.evaluate(node_.left, obj, node, where)
        right = self.evaluate(node_.right, obj, node, where)
        if isinstance(left, Static) and isinstance(right, Static):
            return Static(_static_binop(node_.op, left.value, right.value, where))
        is_text = any(
            (isinstance(v, Static) and isinstance(v.value, str))
            or (isinstance(v, Dynamic) and v.kind == "string")
            or isinstance(v, ObjectValue)
            for v in (left, right)
        )
        if node_.op == "+" and is_text:
            joined = self.to_template(left, where) + self.to_template(right, where)
            return Dynamic(joined.as_expr(), "string")
        a, b = self._number(left, where), self._number(right, where)
        ints = all(
            (isinstance(v, Static) and isinstance(v.value, int))
            or (isinstance(v, Dynamic) and v.kind == "int")
            for v in (left, right)
        )
        op = {"/": "//" if ints else "/", "^": "**"}.get(node_.op, node_.op)
        return Dynamic(f"(({a}) {op} ({b}))", "int" if ints else "float")

    def _call(self, name: str, args: list[Val], where: str) -> Val:
        handler = _FUNCTIONS.get(name)
        unit = name.removeprefix("plus").removeprefix("minus")
        if handler is None and unit != name and unit in _UNITS:
            handler = _shift
        if handler is None:
            raise AirshiftError(f"{where}: unknown function {name}().")
        try:
            return handler(self, name, args, where)
        except (ValueError, TypeError, OverflowError) as exc:
            raise AirshiftError(f"{where}: {name}() cannot be evaluated: {exc}.") from exc

    def datetime_expr(self, value: Val, where: str) -> str | dt.datetime:
        if isinstance(value, Static) and isinstance(value.value, dt.datetime):
            return value.value
        if isinstance(value, Dynamic) and value.kind == "datetime":
            return value.expr
        raise AirshiftError(f"{where}: expected a date/time value.")


def _static_binop(op: str, a: object, b: object, where: str) -> str | int | float:
    if op == "+" and (isinstance(a, str) or isinstance(b, str)):
        return f"{a}{b}"
    if not (isinstance(a, int | float) and isinstance(b, int | float)):
        raise AirshiftError(f"{where}: operator {op!r} needs numbers.")
    if op in ("/", "%") and b == 0:
        raise AirshiftError(f"{where}: division by zero.")
    if op == "/":
        return int(a / b) if isinstance(a, int) and isinstance(b, int) else a / b
    if op == "^" and abs(b) > 64:
        raise AirshiftError(f"{where}: exponent {b} is too large to evaluate.")
    if op == "^":
        return a**b
    return {"+": a + b, "-": a - b, "*": a * b, "%": a % b}[op]


def _arity(name: str, args: list[Val], count: int, where: str) -> None:
    if len(args) != count:
        raise AirshiftError(f"{where}: {name}() takes {count} argument(s), got {len(args)}.")


def add_months(value: dt.datetime, months: int) -> dt.datetime:
    """Joda semantics: the day is clamped to the end of the target month."""
    index = value.month - 1 + months
    year, month = value.year + index // 12, index % 12 + 1
    return value.replace(
        year=year, month=month, day=min(value.day, calendar.monthrange(year, month)[1])
    )


def _shift(t: Translator, name: str, args: list[Val], where: str) -> Val:
    _arity(name, args, 2, where)
    sign = 1 if name.startswith("plus") else -1
    unit = name.removeprefix("plus").removeprefix("minus").lower()
    base = t.datetime_expr(args[0], where)
    amount = args[1]
    if isinstance(base, dt.datetime) and isinstance(amount, Static):
        n = sign * int(amount.value)  # type: ignore[arg-type]
        if unit in ("months", "years"):
            return Static(add_months(base, n * (12 if unit == "years" else 1)))
        return Static(base + dt.timedelta(**{unit: n}))
    method = "add" if sign > 0 else "subtract"
    if isinstance(amount, Static) and isinstance(amount.value, int):
        return Dynamic(f"{_jinja_dt(base)}.{method}({unit}={amount.value})", "datetime")
    number = t._number(amount, where)
    return Dynamic(f"{_jinja_dt(base)}.{method}({unit}=({number}) | int)", "datetime")


def _jinja_dt(value: str | dt.datetime) -> str:
    if isinstance(value, dt.datetime):
        return f"macros.datetime({value.year}, {value.month}, {value.day}, {value.hour}, {value.minute}, {value.second})"
    return value


def _format(t: Translator, name: str, args: list[Val], where: str) -> Val:
    _arity(name, args, 2, where)
    pattern = args[1]
    if not (isinstance(pattern, Static) and isinstance(pattern.value, str)):
        raise AirshiftError(f"{where}: format() needs a literal date pattern.")
    pieces = joda_to_strftime(pattern.value, where)
    base = t.datetime_expr(args[0], where)
    if isinstance(base, dt.datetime):
        return Static(
            "".join(
                base.strftime(p) if p is not None else f"{base.microsecond // 1000:03d}"
                for p in pieces
            )
        )
    exprs = [
        f"{base}.strftime({literal(p)})"
        if p is not None
        else f"'%03d' % ({base}.microsecond // 1000)"
        for p in pieces
        if p != ""
    ]
    return Dynamic(" ~ ".join(exprs) if exprs else "''", "string")


def _date_fn(t: Translator, name: str, args: list[Val], where: str) -> Val:
    _arity(name, args, 1, where)
    base = t.datetime_expr(args[0], where)
    if isinstance(base, dt.datetime):
        value = {
            "firstOfMonth": lambda d: d.replace(day=1),
            "midnight": lambda d: d.replace(hour=0, minute=0, second=0, microsecond=0),
            "sunday": lambda d: d - dt.timedelta(days=(d.weekday() + 1) % 7),
            "yesterday": lambda d: d - dt.timedelta(days=1),
        }[name](base)
        return Static(value)
    expr = {
        "firstOfMonth": f"{base}.replace(day=1)",
        "midnight": f"{base}.start_of('day')",
        "sunday": f"{base}.subtract(days=({base}.weekday() + 1) % 7)",
        "yesterday": f"{base}.subtract(days=1)",
    }[name]
    return Dynamic(expr, "datetime")


def _accessor(t: Translator, name: str, args: list[Val], where: str) -> Val:
    _arity(name, args, 1, where)
    attr = "day_of_year" if name == "dayOfYear" else name
    base = t.datetime_expr(args[0], where)
    if isinstance(base, dt.datetime):
        return Static(base.timetuple().tm_yday if name == "dayOfYear" else getattr(base, attr))
    return Dynamic(f"{base}.{attr}", "int")


def _make(t: Translator, name: str, args: list[Val], where: str) -> Val:
    _arity(name, args, 3 if name == "makeDate" else 5, where)
    ints = [a.value for a in args if isinstance(a, Static) and isinstance(a.value, int)]
    if len(ints) == len(args):
        year, month, day, hour, minute = [*ints, 0, 0][:5]
        return Static(dt.datetime(year, month, day, hour, minute))
    numbers = ", ".join(f"({t._number(a, where)}) | int" for a in args)
    return Dynamic(f"macros.datetime({numbers})", "datetime")


def _string_fn(t: Translator, name: str, args: list[Val], where: str) -> Val:
    if all(isinstance(a, Static) for a in args):
        values = [a.value for a in args]  # type: ignore[union-attr]
        if name == "concat":
            return Static("".join(str(v) for v in values))
        if name == "indexOf":
            return Static(str(values[0]).find(str(values[1])))
        return Static(str(values[0])[int(values[1]) : int(values[2])])  # type: ignore[arg-type]
    parts = [t.to_template(a, where).as_expr() for a in args]
    if name == "concat":
        return Dynamic(" ~ ".join(f"({p})" for p in parts), "string")
    if name == "indexOf":
        return Dynamic(f"({parts[0]}).find({parts[1]})", "int")
    return Dynamic(f"({parts[0]})[({parts[1]}) | int:({parts[2]}) | int]", "string")


_FUNCTIONS: dict[str, Callable[[Translator, str, list[Val], str], Val]] = {
    "format": _format,
    "firstOfMonth": _date_fn,
    "midnight": _date_fn,
    "sunday": _date_fn,
    "yesterday": _date_fn,
    "day": _accessor,
    "dayOfYear": _accessor,
    "hour": _accessor,
    "minute": _accessor,
    "month": _accessor,
    "year": _accessor,
    "makeDate": _make,
    "makeDateTime": _make,
    "concat": _string_fn,
    "indexOf": _string_fn,
    "substring": _string_fn,
}
