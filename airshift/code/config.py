"""Configuration for the target: ``airflow.cfg``, MWAA ``section.key`` options, ``AIRFLOW__`` variables.

Why all three forms: ``airflow config update`` edits only ``airflow.cfg``, but an MWAA
environment keeps its settings as "Airflow configuration options" and containers keep them as
environment variables; a renamed option in any of them silently stops working. The list of
changes comes from the target Airflow itself (``target_facts``). Fixes never edit a file in
place: ``translate`` returns a translated copy that the upgrade writes next to the original.
"""

from __future__ import annotations

import configparser
import re
from dataclasses import dataclass
from pathlib import Path

from airshift.code.findings import Applicability, Finding, Severity
from airshift.code.project import Project
from airshift.errors import AirshiftError

_SECTION = re.compile(r"^\s*\[(?P<section>[^\]]+)\]\s*$")
_CFG_OPTION = re.compile(r"^(?P<key>[A-Za-z0-9_.-]+)\s*[=:]")
_ENV = re.compile(r"^(?:export\s+)?AIRFLOW__(?P<section>[A-Z0-9_.]+?)__(?P<key>[A-Z0-9_]+)\s*=")
_DOTTED = re.compile(r"^(?P<section>[A-Za-z0-9_.-]+)\.(?P<key>[A-Za-z0-9_]+)\s*=")
_SUFFIXES = ("_cmd", "_secret")


@dataclass(frozen=True)
class Option:
    """One option as the user wrote it: where, in which form, and its value."""

    file: Path
    line: int
    form: str  # "cfg", "dotted" or "env"
    section: str
    key: str
    value: str


@dataclass(frozen=True)
class Change:
    """What the target says about one option."""

    severity: Severity
    message: str
    new: tuple[str, str] | None = None  # renamed to (section, key)
    remove: bool = False


def read_options(project: Project) -> list[Option]:
    """Every option set in airflow.cfg and in the option files, in file order."""
    options = []
    if project.airflow_cfg:
        options += _cfg_options(project.airflow_cfg)
    for path in project.option_files:
        options += _line_options(path)
    return options


def _cfg_options(path: Path) -> list[Option]:
    options, section = [], ""
    for number, line in enumerate(_lines(path), 1):
        if match := _SECTION.match(line):
            section = match["section"].strip()
        elif (match := _CFG_OPTION.match(line)) and section:
            value = line.split(line[match.end() - 1], 1)[1].strip()
            options.append(Option(path, number, "cfg", section, match["key"].lower(), value))
    return options


def _line_options(path: Path) -> list[Option]:
    options = []
    for number, line in enumerate(_lines(path), 1):
        stripped = line.strip()
        value = stripped.split("=", 1)[1].strip() if "=" in stripped else ""
        if match := _ENV.match(stripped):
            section, key = match["section"].lower(), match["key"].lower()
            options.append(Option(path, number, "env", section, key, value))
        elif match := _DOTTED.match(stripped):
            options.append(Option(path, number, "dotted", match["section"], match["key"], value))
    return options


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except (UnicodeDecodeError, OSError) as exc:
        raise AirshiftError(f"Cannot read configuration file {path}: {exc}") from exc


def assess(option: Option, table: dict, version: str) -> Change | None:
    """What the target says about ``option`` (renamed, removed, invalid value, unknown), if anything."""
    key = option.key.removesuffix(_SUFFIXES[0]).removesuffix(_SUFFIXES[1])
    for change in table["changes"]:
        if (change["section"], change["option"]) != (option.section, key):
            continue
        if change["renamed_to"]:
            new = tuple(change["renamed_to"])
            return Change(
                Severity.BREAKS,
                f"[{option.section}] {key} is {'moved' if new[0] != option.section else 'renamed'} "
                f"to [{new[0]}] {new[1]} in Airflow {version}; the old name is ignored.",
                new=(new[0], new[1]),
            )
        if change["is_invalid_if"] is not None and option.value == str(change["is_invalid_if"]):
            return Change(
                Severity.BREAKS,
                f"[{option.section}] {key} = {option.value} is invalid in Airflow {version}. "
                f"{change['suggestion']}".strip(),
            )
        equals = change["remove_if_equals"]
        if change["was_removed"] and (equals is None or option.value == str(equals)):
            severity = Severity.BREAKS if change["breaking"] else Severity.DEPRECATED
            return Change(
                severity,
                f"[{option.section}] {key} was removed in Airflow {version} and has no effect. "
                f"{change['suggestion']}".strip(),
                remove=True,
            )
    for entry in table["deprecated"]:
        if (entry["section"], entry["option"]) == (option.section, key):
            new = (entry["renamed_to"][0], entry["renamed_to"][1])
            return Change(
                Severity.DEPRECATED,
                f"[{option.section}] {key} is deprecated since Airflow {entry['since']}; "
                f"use [{new[0]}] {new[1]}.",
                new=new,
            )
    known = table["known"]
    if option.section in known and key not in known[option.section]:
        return Change(
            Severity.ADVICE, f"[{option.section}] {key} is not an option Airflow {version} knows."
        )
    return None


def config_findings(project: Project, table: dict, version: str) -> list[Finding]:
    """One finding per option that the target renamed, removed, rejects or does not know, and
    one per changed default the configuration relies on by not setting it."""
    findings = []
    options = read_options(project)
    for option in options:
        change = assess(option, table, version)
        if change:
            findings.append(
                Finding(
                    file=project.display(option.file),
                    line=option.line,
                    rule=_rule(change),
                    severity=change.severity,
                    message=change.message,
                    fix=Applicability.SAFE if change.new or change.remove else None,
                    source="config",
                )
            )
    sources = [p for p in [project.airflow_cfg, *project.option_files] if p]
    if sources:
        findings += _default_changes(project.display(sources[0]), options, table, version)
    return findings


def _default_changes(
    display: str, options: list[Option], table: dict, version: str
) -> list[Finding]:
    """AS304: defaults the target changed, for options the configuration leaves unset."""
    return [
        Finding(
            file=display,
            line=0,
            rule="AS304",
            severity=Severity.ADVICE,
            message=message,
            source="config",
        )
        for message in changed_defaults({(o.section, o.key) for o in options}, table, version)
    ]


def changed_defaults(set_here: set[tuple[str, str]], table: dict, version: str) -> list[str]:
    """One message per option whose default the target changed and that is not in ``set_here``
    (``(section, key)`` pairs): the configuration silently gets the new default."""
    return [
        (
            f"[{c['section']}] {c['option']} is not set, and its default changes from "
            f"{c['old_default']} to {c['new_default']} in Airflow {version}. {c['suggestion']}"
        ).strip()
        for c in table["changes"]
        if c["default_change"] and (c["section"], c["option"]) not in set_here
    ]


def _rule(change: Change) -> str:
    """AS301 renamed, AS302 removed, AS303 invalid or unknown (AS304: changed defaults)."""
    return "AS301" if change.new else "AS302" if change.remove else "AS303"


def translated_name(path: Path, version: str) -> Path:
    """Where the translated copy of a config file goes: ``airflow.cfg`` -> ``airflow.airflow-3.3.2.cfg``."""
    return path.with_name(f"{path.stem}.airflow-{version}{path.suffix}")


def translate(path: Path, options: list[Option], table: dict, version: str) -> str | None:
    """The file's text with renamed options renamed and removed ones commented out; None if unchanged."""
    lines = _lines(path)
    moved: dict[str, list[str]] = {}
    changed = False
    for option in options:
        change = assess(option, table, version)
        if change is None or not (change.new or change.remove):
            continue
        changed = True
        index = option.line - 1
        if change.remove:
            lines[index] = f"# removed in Airflow {version}: {lines[index]}"
        elif option.form == "cfg":
            assert change.new is not None
            lines[index] = f"# moved to [{change.new[0]}] {change.new[1]}: {lines[index]}"
            moved.setdefault(change.new[0], []).append(f"{change.new[1]} = {option.value}")
        else:
            assert change.new is not None
            lines[index] = _rename_line(lines[index], option, change.new)
    if not changed:
        return None
    return "\n".join(_append_to_sections(lines, moved)) + "\n"


def _rename_line(line: str, option: Option, new: tuple[str, str]) -> str:
    value = line.split("=", 1)[1]
    suffix = next((s for s in _SUFFIXES if option.key.endswith(s)), "")
    if option.form == "env":
        prefix = "export " if line.lstrip().startswith("export ") else ""
        return f"{prefix}AIRFLOW__{new[0].upper()}__{(new[1] + suffix).upper()}={value}"
    return f"{new[0]}.{new[1]}{suffix}={value}"


def _append_to_sections(lines: list[str], moved: dict[str, list[str]]) -> list[str]:
    """Insert moved cfg options at the end of their new section (added when missing)."""
    for section, entries in moved.items():
        starts = [
            i
            for i, line in enumerate(lines)
            if (m := _SECTION.match(line)) and m["section"].strip() == section
        ]
        if not starts:
            lines += ["", f"[{section}]", *entries]
            continue
        end = next(
            (i for i in range(starts[0] + 1, len(lines)) if _SECTION.match(lines[i])), len(lines)
        )
        while end > starts[0] + 1 and not lines[end - 1].strip():
            end -= 1
        lines[end:end] = entries
    return lines


def validate_cfg(text: str) -> None:
    """Refuse to produce an airflow.cfg that configparser cannot read."""
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.read_string(text)
