"""Removing imports that the fixes made unused, and imports they added but nothing uses.

Why: ruff renames the *uses* of a moved name and keeps the old import line
(``from airflow.datasets import Dataset`` stays while the code now says ``Asset``), and on
Airflow 3 that line alone makes the file fail with ``ModuleNotFoundError``. ruff's AIR311 fix
for ``models.DAG(...)`` also adds ``from airflow.sdk import DAG`` without rewriting the call.
So after all fixes, an import is removed when it was used before the fixes and is unused
after them, or when the fixes added it and nothing uses it. An import the user had that was
already unused is never touched: only the fixes' own leftovers go.
"""

from __future__ import annotations

import libcst as cst
from libcst.codemod import CodemodContext
from libcst.codemod.visitors import RemoveImportsVisitor
from libcst.metadata import MetadataWrapper, ScopeProvider

from airshift.code.rules.base import dotted

# (module, name, alias) for ``from module import name as alias``; (module, "", alias) for
# ``import module as alias``.
ImportKey = tuple[str, str, str | None]


def _imports(module: cst.Module) -> dict[ImportKey, bool]:
    """Every top-level import binding of the module, and whether anything refers to it."""
    wrapper = MetadataWrapper(module)
    scopes = wrapper.resolve(ScopeProvider)
    used: dict[ImportKey, bool] = {}
    for statement in wrapper.module.body:
        if not isinstance(statement, cst.SimpleStatementLine):
            continue
        for small in statement.body:
            for key, bound in _bindings(small):
                scope = scopes.get(small)
                references = scope.assignments[bound] if scope else ()
                referenced = any(
                    len(a.references) > 0 for a in references if getattr(a, "node", None) is small
                )
                used[key] = used.get(key, False) or referenced
    return used


def _bindings(small: cst.BaseSmallStatement) -> list[tuple[ImportKey, str]]:
    """``(key, bound name)`` for each alias of an import statement."""
    found: list[tuple[ImportKey, str]] = []
    if isinstance(small, cst.ImportFrom):
        if small.relative or isinstance(small.names, cst.ImportStar):
            return []
        for alias in small.names:
            asname = dotted(alias.asname.name) if alias.asname else None
            name = dotted(alias.name)
            found.append(((dotted(small.module), name, asname), asname or name))
    elif isinstance(small, cst.Import):
        for alias in small.names:
            asname = dotted(alias.asname.name) if alias.asname else None
            name = dotted(alias.name)
            found.append(((name, "", asname), asname or name.split(".")[0]))
    return found


def drop_leftover_imports(before: str, after: str) -> str:
    """``after`` without the imports the fixes made unused or added and never used."""
    fixed = cst.parse_module(after)
    old, new = _imports(cst.parse_module(before)), _imports(fixed)
    leftovers = [key for key, used in new.items() if not used and old.get(key, True)]
    if not leftovers:
        return after
    context = CodemodContext()
    for module, name, asname in sorted(leftovers, key=str):
        if name:
            RemoveImportsVisitor.remove_unused_import(context, module, name, asname)
        else:
            RemoveImportsVisitor.remove_unused_import(context, module, asname=asname)
    return RemoveImportsVisitor(context).transform_module(fixed).code
