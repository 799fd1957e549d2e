"""Reading a project's Python files without ever crashing on them.

Why a separate step: a DAG folder often holds files that are not valid Python 3 (a binary
left behind, Python 2 syntax, a half-edited file). Each becomes a finding with its line, and
only parseable files go on to the rules and the codemods.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from airshift.code.findings import Finding, Severity
from airshift.code.project import PythonFile


@dataclass(frozen=True)
class Source:
    """A project file whose text parses as Python."""

    file: PythonFile
    text: str


def read_source(file: PythonFile) -> Source | Finding:
    """The file's text if it is parseable Python, else a finding that says why not."""
    try:
        data = file.path.read_bytes()
    except OSError as exc:
        return _unreadable(file, 0, f"cannot be read ({exc.strerror}).")
    if b"\0" in data:
        return _unreadable(
            file, 0, "is a binary file, not Python source; Airflow cannot import it."
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _unreadable(file, 0, f"is not UTF-8 text ({exc.reason}); Airflow cannot import it.")
    error = syntax_error(text)
    if error is not None:
        return _unreadable(file, error.lineno or 0, f"has a syntax error: {error.msg}.")
    return Source(file, text)


def syntax_error(text: str) -> SyntaxError | None:
    """The first syntax error of ``text`` under this Python, or None when it parses."""
    try:
        ast.parse(text)
    except SyntaxError as exc:
        return exc
    except ValueError as exc:  # e.g. source with NUL bytes
        return SyntaxError(str(exc))
    return None


def _unreadable(file: PythonFile, line: int, why: str) -> Finding:
    return Finding(
        file=file.display,
        line=line,
        rule="AS002",
        severity=Severity.BREAKS,
        message=f"{file.display} {why}",
        source="airshift",
    )
