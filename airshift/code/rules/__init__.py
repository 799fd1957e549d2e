"""airshift's own rules for what ruff's AIR rules do not cover, and their codemods.

``RULES`` is the ordered registry, one rule class per code: the upgrade applies fixes in this
order, re-parsing in between, so import rewrites come before the rules that look at the
rewritten names.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst

from airshift.code.findings import Finding
from airshift.code.rules.arguments import RemovedArgumentRule, RemovedProviderClassRule
from airshift.code.rules.base import Analysis, Rule, RuleContext, allowed
from airshift.code.rules.calls import DaysAgoRule, ProvideContextRule, ScheduleArgumentRule
from airshift.code.rules.context import ContextKeyRule, TemplateContextRule
from airshift.code.rules.metadata_db import MetadataDbRule
from airshift.code.rules.moves import (
    ChangedImportRule,
    ContribImportRule,
    LegacyImportRule,
    RedirectedImportRule,
    RemovedImportRule,
)
from airshift.code.rules.plugins import PluginComponentRule, PluginUiRule
from airshift.code.rules.subdag import SubDagRule
from airshift.code.rules.successor import SuccessorOperatorRule

RULES: tuple[Rule, ...] = (
    ContribImportRule(),
    LegacyImportRule(),
    RedirectedImportRule(),
    RemovedImportRule(),
    ChangedImportRule(),
    SubDagRule(),
    ProvideContextRule(),
    DaysAgoRule(),
    ScheduleArgumentRule(),
    RemovedArgumentRule(),
    SuccessorOperatorRule(),
    RemovedProviderClassRule(),
    TemplateContextRule(),
    ContextKeyRule(),
    PluginUiRule(),
    PluginComponentRule(),
    MetadataDbRule(),
)

__all__ = ["RULES", "RuleContext", "SourceResult", "apply_fixes", "check_source"]


@dataclass
class SourceResult:
    """Findings for one file, and the ruff diagnostics they make redundant."""

    findings: list[Finding] = field(default_factory=list)
    suppress: set[tuple[int, str]] = field(default_factory=set)  # (line, ruff code)


def check_source(text: str, display: str, ctx: RuleContext) -> SourceResult:
    """Findings of every applicable rule for one parseable source file."""
    analysis = Analysis(cst.parse_module(text))
    result = SourceResult()
    for rule in RULES:
        if not rule.applies(ctx.target):
            continue
        for hit in rule.check(analysis, ctx):
            result.findings.append(
                Finding(
                    file=display,
                    line=hit.line,
                    rule=rule.code,
                    severity=hit.severity,
                    message=hit.message,
                    fix=hit.fix,
                )
            )
            result.suppress |= {(hit.line, code) for code in rule.supersedes}
    return result


def apply_fixes(text: str, ctx: RuleContext, unsafe: bool = False) -> str:
    """``text`` with every applicable rule's fix applied (unsafe ones too when ``unsafe``);
    the caller verifies it still parses."""
    analysis = Analysis(cst.parse_module(text))
    for rule in RULES:
        if not rule.applies(ctx.target):
            continue
        if not any(allowed(hit.fix, unsafe) for hit in rule.check(analysis, ctx)):
            continue  # nothing this run may fix: the metadata is not recomputed for nothing
        fixed = rule.fix(analysis, ctx, unsafe).code
        if fixed != analysis.module.code:
            analysis = Analysis(cst.parse_module(fixed))
    return analysis.module.code
