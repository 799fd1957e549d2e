"""Constructor arguments that operators, sensors and hooks no longer accept on a target release.

Why data: ``airshift/data/signatures/TARGET.json`` is written by ``scripts/gen_moves.py``,
which asks both real runtimes (with the same providers installed) what each class's
constructor accepts along its MRO; a class is followed to its new home through the verified
moves. A target without its own table uses the nearest older one of its major version, as the
move tables do.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache

from airshift.code.moves import moves_for
from airshift.code.target import Target, data_tables


@dataclass(frozen=True)
class SignatureChange:
    """Arguments a class lost between the source and the target runtime."""

    path: str  # the class in the source runtime
    target_path: str  # the same class on the target
    removed: frozenset[str]
    renamed: dict[str, str] = field(default_factory=dict)  # old -> new
    required: frozenset[str] = frozenset()  # renamed-to arguments the target requires
    aliases: frozenset[str] = frozenset()  # renamed arguments the source treated as the new one


@dataclass(frozen=True)
class RemovedClass:
    """A provider (or core) class the source runtime has and the target has nowhere."""

    path: str
    distribution: str
    source_version: str | None
    target_version: str | None


@dataclass(frozen=True)
class SignatureTable:
    changes: dict[str, SignatureChange]
    removed: dict[str, RemovedClass]


@cache
def _load(version: str) -> SignatureTable:
    data = json.loads(data_tables("signatures")[version].read_text())
    changes: dict[str, SignatureChange] = {}
    for path, entry in data["classes"].items():
        change = SignatureChange(
            path=path,
            target_path=entry["target_path"],
            removed=frozenset(entry["removed"]),
            renamed=entry.get("renamed", {}),
            required=frozenset(entry.get("required", ())),
            aliases=frozenset(entry.get("aliases", ())),
        )
        changes[path] = changes[entry["target_path"]] = change
    versions = data.get("versions", {})
    removed = {
        path: RemovedClass(path, dist, *versions.get(dist, [None, None]))
        for path, dist in data.get("removed_classes", {}).items()
    }
    return SignatureTable(changes, removed)


def signature_table(target: Target) -> SignatureTable:
    """The table for ``target``: its own, else the newest older table of the same major."""
    chosen = target.table(data_tables("signatures"))
    return _load(chosen) if chosen else SignatureTable({}, {})


def signature_changes(target: Target) -> dict[str, SignatureChange]:
    """Class path (source or target spelling) -> its argument changes on ``target``."""
    return signature_table(target).changes


def change_for(names: set[str], target: Target) -> SignatureChange | None:
    """The change for a call whose callee has these qualified names (moved names followed)."""
    changes = signature_changes(target)
    moves = moves_for(target)
    for name in sorted(names):
        move = moves.get(name)
        found = changes.get(name) or (changes.get(move.new) if move and move.new else None)
        if found:
            return found
    return None
