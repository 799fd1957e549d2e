"""Dropping imports that a fix added but nothing uses.

Why: ruff 0.17's AIR311 fix for ``models.DAG(...)`` adds ``from airflow.sdk import DAG`` and
then fails to converge without rewriting the call, leaving an unused import in nearly every
file of a typical DAG folder. airshift removes only imports that were *not* in the file before
its fixes ran and are unused after them; the user's own imports are never touched.
"""

from __future__ import annotations

import libcst as cst
from libcst.codemod import CodemodContext
from libcst.codemod.visitors import RemoveImportsVisitor

from airshift.code.rules.base import dotted

ImportKey = tuple[str, str, str | None]  # (module, name, alias)


def _from_imports(module: cst.Module) -> set[ImportKey]:
    found: set[ImportKey] = set()
    for statement in module.body:
        if not isinstance(statement, cst.SimpleStatementLine):
            continue
        for small in statement.body:
            if not isinstance(small, cst.ImportFrom) or small.relative:
                continue
            if isinstance(small.names, cst.ImportStar):
                continue
            for alias in small.names:
                asname = dotted(alias.asname.name) if alias.asname else None
                found.add((dotted(small.module), dotted(alias.name), asname))
    return found


def drop_unused_added_imports(before: str, after: str) -> str:
    """``after`` without the ``from X import Y`` lines it gained over ``before`` and never uses."""
    fixed = cst.parse_module(after)
    added = _from_imports(fixed) - _from_imports(cst.parse_module(before))
    if not added:
        return after
    context = CodemodContext()
    for module, name, asname in sorted(added, key=str):
        RemoveImportsVisitor.remove_unused_import(context, module, name, asname)
    return RemoveImportsVisitor(context).transform_module(fixed).code
