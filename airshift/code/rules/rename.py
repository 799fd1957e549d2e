"""Rewriting ``from OLD import Name`` to ``from NEW import Name``, and the uses when the name changed.

Why not libcst's ``RenameCommand``: it re-walks the whole module with matchers once per name,
which took minutes on a folder of provider example DAGs. Here one scope analysis finds each
import alias and the exact places that use it, and one transform rewrites them: the moved
alias becomes its own import line in place (other names stay on the old line), and when the
class was renamed (``DummyOperator`` -> ``EmptyOperator``) every use of that binding is renamed
too (attributes and keyword names that merely spell the same word are not touched). An alias
with ``as X`` keeps ``X``, so its uses never change.
"""

from __future__ import annotations

import libcst as cst
from libcst.metadata import MetadataWrapper, ScopeProvider

from airshift.code.rules.base import dotted


def rename_imports(module: cst.Module, renames: dict[str, str]) -> cst.Module:
    """``module`` with each ``from M import N`` whose ``M.N`` is in ``renames`` moved."""
    if not renames:
        return module
    wrapper = MetadataWrapper(module)
    scopes = wrapper.resolve(ScopeProvider)
    moved: dict[cst.ImportAlias, str] = {}
    uses: dict[cst.Name, str] = {}
    for node in _import_froms(wrapper.module):
        module_name = dotted(node.module)
        assert not isinstance(node.names, cst.ImportStar)
        for alias in node.names:
            new = renames.get(f"{module_name}.{dotted(alias.name)}")
            if new is None:
                continue
            moved[alias] = new
            old_name, new_name = dotted(alias.name), new.rpartition(".")[2]
            if alias.asname is None and old_name != new_name:
                scope = scopes.get(node)
                for assignment in scope.assignments[old_name] if scope else ():
                    if getattr(assignment, "node", None) is node:
                        for access in assignment.references:
                            if isinstance(access.node, cst.Name):
                                uses[access.node] = new_name
    if not moved:
        return module
    return wrapper.module.visit(_Rewrite(moved, uses))


def _import_froms(module: cst.Module) -> list[cst.ImportFrom]:
    found: list[cst.ImportFrom] = []

    class Collect(cst.CSTVisitor):
        def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
            if not node.relative and not isinstance(node.names, cst.ImportStar):
                found.append(node)

    module.visit(Collect())
    return found


class _Rewrite(cst.CSTTransformer):
    def __init__(self, moved: dict[cst.ImportAlias, str], uses: dict[cst.Name, str]) -> None:
        super().__init__()
        self.moved = moved
        self.uses = uses

    def leave_Name(self, original: cst.Name, updated: cst.Name) -> cst.Name:
        new = self.uses.get(original)
        return updated.with_changes(value=new) if new else updated

    def leave_SimpleStatementLine(
        self, original: cst.SimpleStatementLine, updated: cst.SimpleStatementLine
    ) -> cst.SimpleStatementLine | cst.FlattenSentinel[cst.SimpleStatementLine]:
        if len(original.body) != 1 or not isinstance(original.body[0], cst.ImportFrom):
            return updated
        statement = original.body[0]
        assert not isinstance(statement.names, cst.ImportStar)
        aliases = list(statement.names)
        if not any(a in self.moved for a in aliases):
            return updated
        kept = [a for a in aliases if a not in self.moved]
        lines: list[cst.SimpleStatementLine] = []
        if len(kept) == 1:  # one name left: one line, without parentheses
            kept[-1] = kept[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
            lines.append(
                updated.with_changes(
                    body=[statement.with_changes(names=kept, lpar=None, rpar=None)]
                )
            )
        elif kept:  # several: the parentheses stay (the names may span lines), and the style
            kept[-1] = kept[-1].with_changes(comma=aliases[-1].comma)  # of the last comma
            lines.append(updated.with_changes(body=[statement.with_changes(names=kept)]))
        written = set()  # two names moved to the same one (both successors of one class)
        for alias in aliases:
            if alias in self.moved:
                new_module, _, new_name = self.moved[alias].rpartition(".")
                text = f"from {new_module} import {new_name}" + (
                    f" as {dotted(alias.asname.name)}" if alias.asname else ""
                )
                if text in written:
                    continue
                written.add(text)
                line = cst.parse_statement(text)
                assert isinstance(line, cst.SimpleStatementLine)
                if not lines:  # the first line keeps the original's comments and blank lines
                    line = line.with_changes(
                        leading_lines=updated.leading_lines,
                        trailing_whitespace=updated.trailing_whitespace,
                    )
                lines.append(line)
        return cst.FlattenSentinel(lines)
