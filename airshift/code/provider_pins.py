"""Requirements that bring back provider classes the target's providers cannot import (AS161).

Why a requirement and not a code edit: a removed operator's successor takes other arguments,
so no edit is sure to keep what a DAG does, while an older release of the same provider runs
the very same class. ``airshift/data/provider_pins/TARGET.json`` (``scripts/gen_provider_pins.py``)
holds, per class, the requirement that brings it back (the newest release of the provider that
still has it, or a provider the target no longer installs or the class's module needs),
each verified by installing it with the target Airflow and importing the class there.

A folder gets one pin per provider: of the verified releases, the one with which most of the
classes it imports from that provider import; the table knows, per pinned release, which of
the provider's classes do not import with it. The import check then imports the folder with
exactly these requirements.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from airshift.code.findings import Applicability
from airshift.code.target import Target, data_tables

WHY = {
    "removed": "the newest release that still has it",
    "not-installed": "Airflow 3 no longer installs it",
    "needs-provider": "its module needs it",
}


@dataclass(frozen=True)
class Remedy:
    """The requirement one class needs on the target, and why."""

    requirement: str  # "apache-airflow-providers-google==16.1.0" or a provider name
    why: str  # a key of WHY

    @property
    def name(self) -> str:
        return canonicalize_name(Requirement(self.requirement).name)

    @property
    def pin(self) -> Version | None:
        return next((Version(s.version) for s in Requirement(self.requirement).specifier), None)


@dataclass(frozen=True)
class PinTable:
    remedies: dict[str, Remedy]  # class path -> remedy
    verified: dict[str, frozenset[str]]  # requirement -> classes imported with it
    # provider -> release -> the provider's classes (of the source runtime) that do *not*
    # import with that release pinned on the target
    missing: dict[str, dict[str, frozenset[str]]]


@dataclass(frozen=True)
class Added:
    """A requirement a folder gets: the classes it brings back, and the classes of the folder
    that import with the target's own provider release and would not with this pin."""

    requirement: str
    classes: list[str]
    breaks: list[str] = field(default_factory=list)

    @property
    def fix(self) -> Applicability:
        return Applicability.UNSAFE if self.breaks else Applicability.SAFE


def distribution_of(path: str) -> str:
    """``apache-airflow-providers-google`` for a name under ``airflow.providers.google``;
    ``apache-airflow`` for core."""
    parts = path.split(".")
    if parts[1:2] != ["providers"] or len(parts) < 3:
        return "apache-airflow"
    two = {"apache", "microsoft", "cncf", "common", "atlassian", "dbt"}  # two-part names
    name = parts[2:4] if parts[2] in two else parts[2:3]
    return "apache-airflow-providers-" + "-".join(name).replace("_", "-")


@cache
def _load(version: str) -> PinTable:
    data = json.loads(data_tables("provider_pins")[version].read_text())
    remedies = {path: Remedy(e["requirement"], e["why"]) for path, e in data["classes"].items()}
    verified = {req: frozenset(paths) for req, paths in data["verified"].items()}
    missing = {
        name: {release: frozenset(paths) for release, paths in releases.items()}
        for name, releases in data["missing"].items()
    }
    return PinTable(remedies, verified, missing)


def pin_table(target: Target) -> PinTable:
    """The table for ``target``: its own, else the newest older one of the same major."""
    chosen = target.table(data_tables("provider_pins"))
    return _load(chosen) if chosen else PinTable({}, {}, {})


def remedy(path: str, target: Target) -> Remedy | None:
    return pin_table(target).remedies.get(path)


def needed(paths: Iterable[str], target: Target) -> dict[str, Added]:
    """``{requirement name: Added}`` for the classes among ``paths`` (everything a folder
    imports) that have a remedy.

    A provider the target no longer installs, or that a module needs, is simply added. For a
    provider whose classes were removed, one release is pinned: of the verified releases that
    bring back at least one, those that break nothing (every class of the folder that imports
    with the target's own release still imports) come first, and of them the one with which
    most of the folder's classes of that provider import (the newest among equals). Only when
    every helpful release breaks something is the pin one that does (unsafe, naming what)."""
    table = pin_table(target)
    paths = sorted(set(paths))
    chosen: dict[str, Added] = {}
    for path in paths:
        found = table.remedies.get(path)
        if found and found.pin is None:
            entry = chosen.setdefault(found.name, Added(found.requirement, []))
            entry.classes.append(path)
    for name, releases in table.missing.items():
        folder = [p for p in paths if distribution_of(p) == name]
        removed = [p for p in folder if (r := table.remedies.get(p)) and r.name == name]
        if not removed:
            continue
        options = {
            release: Added(
                f"{name}=={release}",
                [p for p in removed if p not in gone],
                [p for p in folder if p not in table.remedies and p in gone],
            )
            for release, gone in releases.items()
        }
        helpful = [v for v, added in options.items() if added.classes]
        safe = [v for v in helpful if not options[v].breaks]
        if helpful:
            best = max(safe or helpful, key=lambda v: (-len(releases[v] & set(folder)), Version(v)))
            chosen[name] = options[best]
    return chosen


def satisfied(path: str, target: Target, requirements: Mapping[str, Requirement]) -> bool:
    """Whether the project's requirements already bring ``path`` back as verified: the
    provider listed, and for a pin, pinned exactly to a release with which it imports."""
    found = remedy(path, target)
    listed = requirements.get(found.name) if found else None
    if found is None or listed is None:
        return False
    if found.pin is None:
        return True
    exact = [s.version for s in listed.specifier if s.operator in ("==", "===")]
    releases = pin_table(target).missing.get(found.name, {})
    return len(exact) == 1 and exact[0] in releases and path not in releases[exact[0]]
