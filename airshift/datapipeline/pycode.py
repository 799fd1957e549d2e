"""Python values and calls that become ``ast`` nodes, with their imports tracked.

Why: generated code is never assembled from strings. Every pipeline value becomes an
``ast.Constant`` (so ``ast.unparse`` escapes it), and every class the DAG uses is a
``Symbol`` whose import is emitted exactly when it is referenced.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Symbol:
    """``from module import name`` (or ``import module`` when name is None)."""

    module: str
    name: str | None = None

    def attr(self, *names: str) -> Attr:
        return Attr(self, names)

    def __call__(self, *args: Any, **kwargs: Any) -> Call:
        return Call(self, args, kwargs)


@dataclass(frozen=True)
class Attr:
    base: Symbol
    names: tuple[str, ...]

    def __call__(self, *args: Any, **kwargs: Any) -> Call:
        return Call(self, args, kwargs)


@dataclass(frozen=True)
class Call:
    func: Symbol | Attr
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TaskRef:
    """``tasks["<id>"]`` in the generated module."""

    task_id: str


@dataclass(frozen=True)
class Output:
    """``tasks["<id>"].output``: the task's return value, resolved when a task renders."""

    task_id: str


@dataclass(frozen=True)
class Name:
    """A module-level name the generator itself defines (a helper function)."""

    id: str


class Imports:
    """Collects what the generated module must import."""

    def __init__(self) -> None:
        self.modules: set[str] = set()
        self.names: dict[str, set[str]] = {}

    def use(self, symbol: Symbol) -> ast.expr:
        if symbol.name is None:
            self.modules.add(symbol.module)
            node: ast.expr = ast.Name(symbol.module.split(".")[0])
            for part in symbol.module.split(".")[1:]:
                node = ast.Attribute(node, part)
            return node
        self.names.setdefault(symbol.module, set()).add(symbol.name)
        return ast.Name(symbol.name)

    def statements(self) -> list[ast.stmt]:
        stmts: list[ast.stmt] = [ast.ImportFrom("__future__", [ast.alias("annotations")], 0)]
        stmts += [ast.Import([ast.alias(m)]) for m in sorted(self.modules)]
        stmts += [
            ast.ImportFrom(module, [ast.alias(n) for n in sorted(names)], 0)
            for module, names in sorted(self.names.items())
        ]
        return stmts


def to_ast(value: Any, imports: Imports) -> ast.expr:
    """Convert a value (constants, containers, ``Call``/``Symbol``/``TaskRef``) to an AST."""
    if value is None or isinstance(value, str | int | float | bool):
        return ast.Constant(value)
    if isinstance(value, Symbol):
        return imports.use(value)
    if isinstance(value, Attr):
        node = imports.use(value.base)
        for name in value.names:
            node = ast.Attribute(node, name)
        return node
    if isinstance(value, Call):
        return ast.Call(
            to_ast(value.func, imports),
            [to_ast(a, imports) for a in value.args],
            [ast.keyword(k, to_ast(v, imports)) for k, v in value.kwargs.items()],
        )
    if isinstance(value, TaskRef):
        return ast.Subscript(ast.Name("tasks"), ast.Constant(value.task_id))
    if isinstance(value, Name):
        return ast.Name(value.id)
    if isinstance(value, Output):
        return ast.Attribute(to_ast(TaskRef(value.task_id), imports), "output")
    if isinstance(value, list | tuple):
        items = [to_ast(v, imports) for v in value]
        return ast.List(items) if isinstance(value, list) else ast.Tuple(items)
    if isinstance(value, dict):
        return ast.Dict(
            [ast.Constant(k) for k in value], [to_ast(v, imports) for v in value.values()]
        )
    raise TypeError(f"cannot generate code for {type(value).__name__}")
