"""Run the fault suite (tests/faults) and write its figures into docs/reliability.md.

    .venv/bin/python -m scripts.reliability          # the fast subset, as CI runs it
    .venv/bin/python -m scripts.reliability --full   # every kill point and fault
    .venv/bin/python -m scripts.reliability --append --full -k NAME  # one more run, kept
                                                     # below the figures already there

Each fault test adds its outcome to a JSON-lines record (``tests/faults/lab.record``);
pytest's JUnit XML says which tests passed. Both become the tables between the
``figures`` markers of docs/reliability.md, with the command and the date of the run:
nothing in them is typed by hand.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "reliability.md"
BEGIN, END = "<!-- figures:begin -->", "<!-- figures:end -->"


def _cell(text: object) -> str:
    """A table cell: one line, pipes escaped, pytest's temp folders named as such."""
    text = re.sub(r"/\S*?/pytest-of-[^/]+/pytest-\d+/", "$TMP/", str(text))
    return text.replace("|", "\\|").replace("\n", " ")


def _table(head: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _section(title: str, head: list[str], rows: list[list[object]]) -> list[str]:
    """A titled table; nothing for a kind of test the run did not include (an --append
    run of a few kill points has no bad inputs to show)."""
    return ["", title, "", _table(head, rows)] if rows else []


def _outcomes(junit: Path) -> tuple[Counter, float]:
    """passed / failed / skipped per test file, and the run's seconds."""
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None
    counts: Counter = Counter()
    for case in suite.iter("testcase"):
        module = case.get("classname", "").rsplit(".", 1)[-1]
        kind = next((c.tag for c in case if c.tag in ("failure", "error", "skipped")), "passed")
        counts[(module, kind)] += 1
    return counts, float(suite.get("time", 0))


def render(records: list[dict], counts: Counter, seconds: float, command: str) -> str:
    by = {s: [r for r in records if r["suite"] == s] for s in {r["suite"] for r in records}}
    modules = sorted({m for m, _ in counts})
    out = [
        f"Run on {dt.date.today().isoformat()} with `{command}` ({seconds / 60:.1f} minutes).",
        "",
        _table(
            ["test file", "passed", "failed", "skipped"],
            [
                [
                    m,
                    counts[(m, "passed")],
                    counts[(m, "failure")] + counts[(m, "error")],
                    counts[(m, "skipped")],
                ]
                for m in modules
            ],
        ),
    ]
    bad = by.get("bad_inputs", [])
    out += _section(
        f"### Bad inputs: {len(bad)} tried, {len(bad)} refused as documented",
        ["case", "bad input", "exit", "what the user reads"],
        [[r["case"], r["what"], r["exit_code"], r["message"]] for r in bad],
    )
    kills = by.get("kill_points", [])
    out += _section(
        f"### Kill points: {len(kills)} tried and passed",
        ["command", "killed when", "signal", "exit of the killed run", "re-run"],
        [[r["command"], r["what"], r["signal"], r["killed_exit"], r["rerun_exit"]] for r in kills],
    )
    faults = by.get("faults", [])
    out += _section(
        f"### Infrastructure faults: {len(faults)} tried and passed",
        ["fault", "exit", "what the user reads"],
        [[r["fault"], r["exit_code"], r["message"]] for r in faults],
    )
    for r in by.get("secret_scan", []):
        out += [
            "",
            "### Secret scan",
            "",
            f"{r['files']} files ({r['bytes']:,} bytes with the Parquet values decoded) and "
            f"{r['outputs']} commands' stdout and stderr, scanned for {r['secrets']} secret "
            f"values in {r['forms']} forms: **{r['leaks']} found**.",
        ]
    for r in by.get("load", []):
        out += _section("### Live target under load", list(r["table"][0]), r["table"][1:])
    return "\n".join(out)


def main() -> None:
    # --append: a run of some tests (after a fix, say) is added below the figures of the
    # runs already on the page instead of replacing them; each keeps its own command.
    append = "--append" in sys.argv[1:]
    extra = [a for a in sys.argv[1:] if a != "--append"]
    with tempfile.TemporaryDirectory() as tmp:
        record, junit = Path(tmp) / "record.jsonl", Path(tmp) / "junit.xml"
        command = [sys.executable, "-m", "pytest", "-q", "tests/faults", *extra]
        env = {**os.environ, "AIRSHIFT_FAULTS_RECORD": str(record)}
        proc = subprocess.run([*command, f"--junitxml={junit}"], cwd=ROOT, env=env)
        records = (
            [json.loads(line) for line in record.read_text().splitlines()]
            if record.exists()
            else []
        )
        counts, seconds = _outcomes(junit)
    shown = shlex.join([".venv/bin/python", "-m", "scripts.reliability", *sys.argv[1:]])
    text = DOC.read_text()
    head, _, rest = text.partition(BEGIN)
    kept, _, tail = rest.partition(END)
    figures = render(records, counts, seconds, shown)
    if append:
        figures = f"{kept.strip()}\n\n---\n\n{figures}"
    DOC.write_text(f"{head}{BEGIN}\n{figures}\n{END}{tail}")
    sys.exit(proc.returncode)


if __name__ == "__main__":
    main()
