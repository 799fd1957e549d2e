"""Requirements that bring back provider classes the target's providers cannot import (AS161).

Why a requirement and not a code edit: a removed operator's successor takes other arguments,
so no edit is sure to keep what a DAG does, while an older release of the same provider runs
the very same class. ``airshift/data/provider_pins/TARGET.json`` (``scripts/gen_provider_pins.py``)
holds, per class, the requirement that brings it back (the newest release of the provider that
still has it, or a provider the target no longer installs or the class's module needs),
each verified by installing it with the target Airflow and importing the class there.

A folder that needs several classes of one provider gets one pin, the oldest of their newest
releases, and only when that release was verified for all of them; the import check then
imports the folder with exactly these requirements.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

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


@cache
def _load(version: str) -> PinTable:
    data = json.loads(data_tables("provider_pins")[version].read_text())
    remedies = {path: Remedy(e["requirement"], e["why"]) for path, e in data["classes"].items()}
    verified = {req: frozenset(paths) for req, paths in data["verified"].items()}
    return PinTable(remedies, verified)


def pin_table(target: Target) -> PinTable:
    """The table for ``target``: its own, else the newest older one of the same major."""
    chosen = target.table(data_tables("provider_pins"))
    return _load(chosen) if chosen else PinTable({}, {})


def remedy(path: str, target: Target) -> Remedy | None:
    return pin_table(target).remedies.get(path)


def needed(paths: Iterable[str], target: Target) -> dict[str, tuple[str, list[str]]]:
    """``{provider name: (requirement, [classes])}`` for the classes among ``paths`` that have
    a remedy: one requirement per provider, a pin only when verified for all its classes."""
    table = pin_table(target)
    by_name: dict[str, list[tuple[str, Remedy]]] = {}
    for path in sorted(set(paths)):
        found = table.remedies.get(path)
        if found:
            by_name.setdefault(found.name, []).append((path, found))
    chosen = {}
    for name, items in by_name.items():
        classes = [path for path, _ in items]
        pins = [r for _, r in items if r.pin is not None]
        requirement = min(pins, key=lambda r: r.pin or Version("0")).requirement if pins else None
        requirement = requirement or items[0][1].requirement
        if set(classes) <= table.verified.get(requirement, frozenset()):
            chosen[name] = (requirement, classes)
    return chosen


def satisfied(path: str, target: Target, requirements: Mapping[str, Requirement]) -> bool:
    """Whether the project's requirements already bring ``path`` back as verified: the
    provider listed, and for a pin, pinned exactly to a release verified for the class."""
    found = remedy(path, target)
    listed = requirements.get(found.name) if found else None
    if found is None or listed is None:
        return False
    if found.pin is None:
        return True
    exact = [s.version for s in listed.specifier if s.operator in ("==", "===")]
    verified = pin_table(target).verified
    return len(exact) == 1 and path in verified.get(f"{found.name}=={exact[0]}", frozenset())
