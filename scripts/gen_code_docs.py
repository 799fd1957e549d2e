"""Rewrite the rule reference in docs/code-check.md from the rule classes (airshift.code.rules).

Usage: python scripts/gen_code_docs.py   (tests/code/test_code_rule_docs.py fails while stale)
"""

from __future__ import annotations

from pathlib import Path

from airshift.code.rules.docs import with_reference

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "code-check.md"

if __name__ == "__main__":
    GUIDE.write_text(with_reference(GUIDE.read_text()))
    print(f"wrote {GUIDE}")
