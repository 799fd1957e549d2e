"""The shape of an airshift rule: find problems with libcst, optionally fix them.

Why libcst for both halves: one parse gives line numbers and fully qualified names for the
check (``days_ago`` is found however it was imported) and a lossless tree for the fix, so a
codemod keeps the user's comments and formatting. A rule's fix must be idempotent; the
upgrade re-parses after every rule and never keeps code that does not parse.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import ClassVar, TypeVar

import libcst as cst
from libcst.metadata import (
    MetadataWrapper,
    ParentNodeProvider,
    PositionProvider,
    QualifiedNameProvider,
)
from libcst.metadata.base_provider import LazyValue
from packaging.requirements import Requirement

from airshift.code.findings import Applicability, Severity
from airshift.code.target import Target

N = TypeVar("N", bound=cst.CSTNode)


@dataclass(frozen=True)
class RuleContext:
    """What a rule may need beyond the file: the target and the file's role."""

    target: Target
    kind: str  # "dag" or "plugin"
    has_fab_provider: bool = False  # requirements install apache-airflow-providers-fab
    # the project's requirements by canonical name (AS161 asks whether they bring a class back)
    requirements: Mapping[str, Requirement] = field(default_factory=dict)


class FixAvailability(str, Enum):
    """Whether a rule can fix what it finds: always, for some findings, or never."""

    ALWAYS = "always"
    SOMETIMES = "sometimes"
    NONE = "none"


@dataclass(frozen=True)
class Hit:
    """One problem a rule found: where, how bad, and how far its fix can be trusted."""

    line: int
    severity: Severity
    message: str
    fix: Applicability | None = None  # None: no automatic fix for this finding


class Analysis:
    """A parsed module with the metadata rules ask for, computed once and shared."""

    def __init__(self, module: cst.Module) -> None:
        self.wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
        self.positions = self.wrapper.resolve(PositionProvider)
        self.qualified = self.wrapper.resolve(QualifiedNameProvider)
        self.parents = self.wrapper.resolve(ParentNodeProvider)
        self.module = self.wrapper.module

    def line(self, node: cst.CSTNode) -> int:
        return self.positions[node].start.line

    def names(self, node: cst.CSTNode) -> set[str]:
        """Fully qualified names a Name or Attribute node refers to (empty if unknown)."""
        found = self.qualified.get(node, ())
        if isinstance(found, LazyValue):  # QualifiedNameProvider computes names on demand
            found = found()
        return {q.name for q in found}

    def inside(self, node: cst.CSTNode, *types: type[cst.CSTNode]) -> bool:
        """Whether ``node`` is nested in a node of one of ``types``."""
        while node in self.parents:
            node = self.parents[node]
            if isinstance(node, types):
                return True
        return False

    def nodes(self, kind: type[N]) -> Iterator[N]:
        """Every node of one type, in source order."""
        for node in self.positions:
            if isinstance(node, kind):
                yield node


class Rule:
    """Base for airshift's own rules: one class per code, laid out like ruff's rules.

    A subclass sets ``code``, ``name`` (kebab-case), ``fix_availability``, ``supersedes`` and
    ``since`` (when it applies to newer targets only),
    and documents itself in its class docstring: a first line that becomes the summary in the
    rule table, then ``## What it does``, ``## Why is this bad?``, ``## Example`` and
    ``## Use instead`` (``docs/code-check.md`` is generated from these, see ``rules.docs``).
    ``check`` reports hits with the applicability of their fix; ``fix`` applies the safe fixes,
    and the unsafe ones too when ``unsafe`` is set. A fix must be idempotent.
    """

    code: ClassVar[str] = ""
    name: ClassVar[str] = ""
    fix_availability: ClassVar[FixAvailability] = FixAvailability.NONE
    supersedes: ClassVar[frozenset[str]] = frozenset()  # ruff codes it reports at the same line
    since: ClassVar[str] = ""  # the oldest target it checks (its replacement exists there)

    @classmethod
    def summary(cls) -> str:
        return inspect.cleandoc(cls.__doc__ or "").split("\n", 1)[0].strip()

    @classmethod
    def section(cls, title: str) -> str:
        """One ``## title`` section of the rule's documentation ('' when it has none)."""
        doc = inspect.cleandoc(cls.__doc__ or "")
        match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", doc, re.M | re.S)
        return match.group(1).strip() if match else ""

    def applies(self, target: Target) -> bool:
        return not self.since or target.at_least(self.since)

    def check(self, analysis: Analysis, ctx: RuleContext) -> list[Hit]:
        raise NotImplementedError

    def fix(self, analysis: Analysis, ctx: RuleContext, unsafe: bool = False) -> cst.Module:
        """The module with this rule's fixes applied; rules without a fix return it as is.

        Called only when ``check`` found something this run may fix, on the same analysis."""
        return analysis.module


def allowed(fix: Applicability | None, unsafe: bool) -> bool:
    """Whether a fix of this applicability runs (safe always, unsafe with --unsafe-fixes)."""
    return fix is Applicability.SAFE or (fix is Applicability.UNSAFE and unsafe)


def dotted(node: cst.BaseExpression | None) -> str:
    """``a.b.c`` for a Name/Attribute chain (an ImportFrom module), else ''."""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        head = dotted(node.value)
        return f"{head}.{node.attr.value}" if head else ""
    return ""


def removed_in(target: Target, major: int) -> Severity:
    """Severity of using something removed in Airflow ``major``: breaks there, else deprecated."""
    return Severity.BREAKS if target.major >= major else Severity.DEPRECATED
