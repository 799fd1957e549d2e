"""What a check reports: one ``Finding`` per problem, collected in a ``Report``.

Why one shape for every source: ruff, airshift's rules, the DagBag import, requirements and
configuration all end up in the same table, JSON and SARIF output, and the exit code only
has to ask whether any finding *breaks* on the target.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum


class Severity(str, Enum):
    """How bad a finding is on the target version."""

    BREAKS = "breaks"  # fails on the target: import error, removed API, invalid option
    DEPRECATED = "deprecated"  # still works on the target, will be removed later
    ADVICE = "advice"  # worth a look; nothing fails

    @property
    def rank(self) -> int:
        return {"breaks": 0, "deprecated": 1, "advice": 2}[self.value]


class Applicability(str, Enum):
    """How far a fix can be trusted (ruff's terms): ``code upgrade`` applies safe fixes, and
    unsafe ones only with ``--unsafe-fixes``."""

    SAFE = "safe"  # the meaning of the code is unchanged, always
    UNSAFE = "unsafe"  # right in the usual case; may change meaning, so a person should look


@dataclass(frozen=True)
class Finding:
    """One problem in one file. ``line`` is 1-based; 0 means the whole file."""

    file: str
    line: int
    rule: str
    severity: Severity
    message: str
    fix: Applicability | None = None  # None: no automatic fix
    source: str = "airshift"  # airshift, ruff, dagbag, requirements, config, project

    @property
    def fixable(self) -> bool:
        """Whether ``code upgrade`` fixes it without ``--unsafe-fixes``."""
        return self.fix is Applicability.SAFE

    def as_dict(self) -> dict[str, object]:
        fix = self.fix.value if self.fix else None
        return asdict(self) | {"severity": self.severity.value, "fix": fix, "fixable": self.fixable}


@dataclass
class Report:
    """All findings for one project and target, plus what was looked at."""

    target: str
    findings: list[Finding] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        """The ``--json`` document of ``code check`` (and the ``report`` of ``code upgrade``)."""
        return {
            "target": self.target,
            "breaks": self.breaks,
            "files": self.files,
            "notes": self.notes,
            "findings": [f.as_dict() for f in self.sorted_findings()],
        }

    @property
    def breaks(self) -> bool:
        return any(f.severity is Severity.BREAKS for f in self.findings)

    def sorted_findings(self) -> list[Finding]:
        return sorted(self.findings, key=lambda f: (f.file, f.line, f.severity.rank, f.rule))

    def by_file(self) -> dict[str, list[Finding]]:
        grouped: dict[str, list[Finding]] = {}
        for finding in self.sorted_findings():
            grouped.setdefault(finding.file, []).append(finding)
        return grouped
