"""requirements.txt against the target: pins, constraints, providers, and a dry-run resolve.

Why resolve rather than read: most conflicts come from what the listed packages require, not
from the lines themselves (an old provider requiring an old ``pyyaml``, say). A dry-run
resolution of the file together with the target Airflow pin (uv's resolver, or pip's
``install --dry-run`` where uv is missing) finds them without installing anything. The
``--constraint`` line is left out of the resolve: constraints for the *old* version are
exactly what must change, and that is reported on its own.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from airshift.code.findings import Applicability, Finding, Severity
from airshift.code.provider_pins import Added
from airshift.code.target import Target

# ends each requirement line ``code upgrade`` adds (the corpus measurement reads them back)
ADDED_MARK = "# added by airshift"
_CONSTRAINT = re.compile(r"^\s*(-c|--constraint)[\s=]+(?P<url>\S+)")
_CONSTRAINT_VERSION = re.compile(r"constraints-(?P<version>\d+\.\d+\.\d+)")
_MISSING = (
    re.compile(r"Because (?P<name>[\w.-]+) was not found in the package registry"),
    re.compile(r"No matching distribution found for (?P<name>[\w.-]+)"),
)


@dataclass(frozen=True)
class Line:
    """One requirement line and what packaging made of it."""

    number: int
    text: str
    requirement: Requirement


@dataclass
class RequirementsFile:
    """A parsed requirements.txt: requirement lines and the constraint line, if any."""

    path: Path
    display: str
    lines: list[Line]
    constraint: tuple[int, str] | None  # (line number, URL)
    problems: list[Finding]

    def install_args_lines(self) -> list[Line]:
        """The requirement lines to install next to Airflow (all but Airflow core itself)."""
        return [
            line
            for line in self.lines
            if canonicalize_name(line.requirement.name) != "apache-airflow"
        ]

    @property
    def install_args(self) -> list[str]:
        """The requirements to install next to Airflow for the import check."""
        return [line.text for line in self.install_args_lines()]


def parse(path: Path, display: str) -> RequirementsFile:
    """Requirement lines, the constraint URL, and findings for lines that are not requirements."""
    parsed = RequirementsFile(path, display, [], None, [])
    for number, raw in enumerate(
        path.read_text(encoding="utf-8", errors="replace").splitlines(), 1
    ):
        text = raw.split(" #", 1)[0].split(" --", 1)[0].strip()  # comments, --hash options
        if not text or text.startswith("#"):
            continue
        if match := _CONSTRAINT.match(text):
            parsed.constraint = (number, match["url"])
        elif text.startswith("-"):
            continue  # other pip options (--index-url, -r) are passed over
        else:
            try:
                parsed.lines.append(Line(number, text, Requirement(text)))
            except InvalidRequirement as exc:
                parsed.problems.append(
                    _finding(
                        parsed, number, "AS405", Severity.BREAKS, f"Not a valid requirement: {exc}."
                    )
                )
    return parsed


def requirement_findings(
    parsed: RequirementsFile, target: Target, facts: dict, resolve: bool = True
) -> list[Finding]:
    """Pins of Airflow core, constraint problems, providers below the target's minimum, resolve errors.

    ``facts`` is what the target venv says (``target_facts``): ``min_providers`` and the
    ``providers`` installed there with the requirements, each with its declared Airflow floor.
    """
    min_providers: dict[str, str] = facts["min_providers"]
    findings = list(parsed.problems)
    findings += _constraint_findings(parsed, target)
    for line in parsed.lines:
        name = canonicalize_name(line.requirement.name)
        spec = line.requirement.specifier
        if (
            name == "apache-airflow"
            and spec
            and not spec.contains(target.version, prereleases=True)
        ):
            findings.append(
                _finding(
                    parsed,
                    line.number,
                    "AS401",
                    Severity.BREAKS,
                    f"Pins Airflow core (`{line.text}`), which excludes the target {target.version}; remove the line (the environment provides Airflow).",
                    fix=Applicability.SAFE,
                )
            )
        minimum = min_providers.get(name)
        if (
            minimum
            and spec
            and not any(spec.contains(v) for v in _versions_at_least(spec, minimum))
        ):
            findings.append(
                _finding(
                    parsed,
                    line.number,
                    "AS403",
                    Severity.BREAKS,
                    f"`{line.text}` is below {minimum}, the oldest {name} that Airflow {target.version} accepts.",
                )
            )
    findings += _pre_airflow3_providers(parsed, target, facts["providers"])
    if resolve:
        findings += _resolve_findings(parsed, target)
    return findings


AIRFLOW3_PROVIDER_FLOOR = Version("2.10.0")  # provider releases since Airflow 3.0 require >= 2.10


def _pre_airflow3_providers(
    parsed: RequirementsFile, target: Target, installed: dict
) -> list[Finding]:
    """Providers whose installed release was built before Airflow 3 (a lower Airflow floor)."""
    if target.major < 3:
        return []
    findings = []
    for line in parsed.lines:
        info = installed.get(canonicalize_name(line.requirement.name))
        if info is None:
            continue
        floor = info["airflow_floor"]
        if floor is None or Version(floor) < AIRFLOW3_PROVIDER_FLOOR:
            declared = f"apache-airflow>={floor}" if floor else "no Airflow version"
            message = (
                f"{line.requirement.name} {info['version']} predates Airflow 3 (it declares "
                f"{declared}); provider releases that support Airflow 3 declare >=2.10."
            )
            findings.append(_finding(parsed, line.number, "AS403", Severity.ADVICE, message))
    return findings


def stale_environment(parsed: RequirementsFile, installed: dict[str, str]) -> list[str]:
    """Requirement lines the import-check venv does not satisfy (it is cached by package name)."""
    stale = []
    for line in parsed.install_args_lines():
        version = installed.get(canonicalize_name(line.requirement.name))
        if version and not line.requirement.specifier.contains(version, prereleases=True):
            stale.append(f"{line.text} (installed: {version})")
    return stale


def _versions_at_least(spec, minimum: str) -> list[str]:
    """The versions a specifier names explicitly that are at least ``minimum``."""
    return [s.version for s in spec if Version(s.version.rstrip(".*")) >= Version(minimum)]


def _constraint_findings(parsed: RequirementsFile, target: Target) -> list[Finding]:
    if parsed.constraint is None:
        return [
            _finding(
                parsed,
                0,
                "AS402",
                Severity.ADVICE,
                f"No `--constraint` line: installs are reproducible only with Airflow's constraints file for {target.version} and your Python version.",
            )
        ]
    number, url = parsed.constraint
    match = _CONSTRAINT_VERSION.search(url)
    if match and match["version"] != target.version:
        return [
            _finding(
                parsed,
                number,
                "AS402",
                Severity.BREAKS,
                f"The constraints are for Airflow {match['version']}, not {target.version}; they pin packages the target cannot use.",
                fix=Applicability.SAFE,
            )
        ]
    return []


def listed(parsed: RequirementsFile | None) -> dict[str, Requirement]:
    """The project's requirements by canonical name (none without a requirements.txt)."""
    if parsed is None:
        return {}
    return {canonicalize_name(line.requirement.name): line.requirement for line in parsed.lines}


def translated(
    parsed: RequirementsFile | None,
    target: Target,
    added: Mapping[str, Added],
    unsafe: bool = False,
) -> str | None:
    """requirements.txt for the target: the constraint URL moved to the target, Airflow core
    pins removed, and the ``added`` requirements (``provider_pins.needed``) written in, each
    with a comment saying which classes need it. A provider the file pins to another release
    (someone chose it), and a pin that would break other classes the folder imports, are
    written only when ``unsafe``. None when nothing changes.
    """
    lines = parsed.path.read_text(encoding="utf-8").splitlines() if parsed else []
    changed = parsed is not None and _translate_constraint(parsed, target, lines)
    present: dict[str, Line] = (
        {canonicalize_name(line.requirement.name): line for line in parsed.lines} if parsed else {}
    )
    pinned_any = False
    for name, entry in sorted(added.items()):
        wanted = Requirement(entry.requirement)
        line = present.get(name)
        if line is not None and not _replaceable(line.requirement, wanted, unsafe):
            continue
        if entry.breaks and not unsafe:
            continue
        names = _few(sorted({c.rpartition(".")[2] for c in entry.classes}))
        if line is not None:
            extras = (
                f"[{','.join(sorted(line.requirement.extras))}]" if line.requirement.extras else ""
            )
            text = f"{line.requirement.name}{extras}{wanted.specifier}"
            lines[line.number - 1] = f"# replaced by airshift: {lines[line.number - 1]}"
        else:
            text = entry.requirement
        broken = _few(sorted(b.rpartition(".")[2] for b in entry.breaks))
        lines.append(
            f"{text}  {ADDED_MARK}: so that {names} import on Airflow "
            f"{target.version} (installed and imported there)"
            + (f"; with it {broken} do not" if entry.breaks else "")
        )
        pinned_any = pinned_any or bool(wanted.specifier)
        changed = True
    if pinned_any and parsed and parsed.constraint and "no-providers" not in parsed.constraint[1]:
        index = parsed.constraint[0] - 1
        lines[index] = _NO_PROVIDERS.sub(r"/constraints-no-providers-\1", lines[index])
        lines.insert(
            index,
            "# airshift: Airflow's constraints without providers, since the full ones pin "
            "every provider to the release that came with Airflow and would overrule the pin",
        )
    return "\n".join(lines) + "\n" if changed else None


def _few(names: list[str], shown: int = 3) -> str:
    """``A, B, C and 4 more``: a comment line stays readable."""
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


_NO_PROVIDERS = re.compile(r"/constraints-(\d+\.\d+\.txt)")


def _replaceable(current: Requirement, wanted: Requirement, unsafe: bool) -> bool:
    """Whether a line for the same provider is replaced: not when it already allows only
    the wanted release (or any release, when no pin is wanted); a line pinning another release
    exactly only with ``unsafe``."""
    if not wanted.specifier:
        return False
    version = next(iter(wanted.specifier)).version
    exact = [s for s in current.specifier if s.operator in ("==", "===")]
    if exact:
        return unsafe and not current.specifier.contains(version, prereleases=True)
    return True


def _translate_constraint(parsed: RequirementsFile, target: Target, lines: list[str]) -> bool:
    """Move the constraint URL to the target and comment out Airflow core pins that exclude
    it, in ``lines``; whether anything changed."""
    pins = {
        line.number
        for line in parsed.lines
        if canonicalize_name(line.requirement.name) == "apache-airflow"
        and not line.requirement.specifier.contains(target.version, prereleases=True)
    }
    changed = False
    for number in pins:
        lines[number - 1] = (
            f"# removed by airshift (the environment provides Airflow): {lines[number - 1]}"
        )
        changed = True
    match = _CONSTRAINT_VERSION.search(parsed.constraint[1]) if parsed.constraint else None
    if parsed.constraint and match and match["version"] != target.version:
        index = parsed.constraint[0] - 1
        lines[index] = lines[index].replace(
            f"constraints-{match['version']}", f"constraints-{target.version}"
        )
        changed = True
    return changed


def _resolve_findings(parsed: RequirementsFile, target: Target) -> list[Finding]:
    reqs = [f"apache-airflow=={target.version}", *parsed.install_args]
    ok, output = dry_run_resolve(reqs)
    if ok:
        return []
    output = " ".join(output.split())  # resolvers wrap their explanation to the terminal width
    missing = {
        canonicalize_name(m["name"]) for pattern in _MISSING for m in pattern.finditer(output)
    }
    findings = []
    for line in parsed.lines:
        if canonicalize_name(line.requirement.name) in missing:
            findings.append(
                _finding(
                    parsed,
                    line.number,
                    "AS404",
                    Severity.BREAKS,
                    f"`{line.requirement.name}` does not exist on the package index (renamed or withdrawn).",
                )
            )
    if not findings:
        culprit = next((line for line in parsed.lines if line.requirement.name in output), None)
        explanation = output[-700:]
        findings.append(
            _finding(
                parsed,
                culprit.number if culprit else 0,
                "AS400",
                Severity.BREAKS,
                f"Does not resolve together with apache-airflow=={target.version}: {explanation}",
            )
        )
    return findings


def dry_run_resolve(requirements: list[str]) -> tuple[bool, str]:
    """Resolve without installing; (True, "") or (False, the resolver's explanation)."""
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
        handle.write("\n".join(requirements) + "\n")
    try:
        uv = shutil.which("uv")
        cmd = (
            [uv, "pip", "compile", "-q", "--no-header", "--python-version", python, handle.name]
            if uv
            else [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--dry-run",
                "--ignore-installed",
                "-q",
                "-r",
                handle.name,
            ]
        )
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=600)
    finally:
        Path(handle.name).unlink()
    return proc.returncode == 0, proc.stderr.strip()


def _finding(
    parsed: RequirementsFile,
    line: int,
    rule: str,
    severity: Severity,
    message: str,
    fix: Applicability | None = None,
) -> Finding:
    return Finding(parsed.display, line, rule, severity, message, fix, source="requirements")
