"""The rule reference in docs/code-check.md is generated from the rule classes and up to date."""

from __future__ import annotations

import pytest

from airshift.code.rules import RULES
from airshift.code.rules.base import FixAvailability, Rule
from airshift.code.rules.docs import with_reference
from scripts.gen_code_docs import GUIDE


def test_guide_is_up_to_date() -> None:
    """Regenerate with ``python scripts/gen_code_docs.py`` when this fails."""
    text = GUIDE.read_text()
    assert with_reference(text) == text


@pytest.mark.parametrize("rule", RULES, ids=[r.code for r in RULES])
def test_every_rule_is_documented_like_ruffs(rule) -> None:
    assert rule.code.startswith("AS") and rule.name and rule.summary()
    for title in ("What it does", "Why is this bad?", "Example", "Use instead"):
        assert rule.section(title), (rule.code, title)
    if rule.fix_availability is FixAvailability.NONE:
        assert type(rule).fix is Rule.fix  # no fix method of its own


def test_one_class_per_code() -> None:
    codes = [r.code for r in RULES]
    assert len(codes) == len(set(codes))
