"""Where Airflow 2 (and 1.10) names live on a target release, from generated, verified tables.

Why data: ``airshift/data/moves/TARGET.json`` is written by ``scripts/gen_moves.py`` from the
real source and target runtimes (see there for how a move is verified), so supporting a new
target release is a new file, not new code. A target without its own table uses the newest
table of the same major version that is not newer than it (2.8.4 uses 2.10.5's 1.10 -> 2 moves,
whose homes all exist since 2.3), and says so in ``Moves.table``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum
from functools import cache

from airshift.code.target import Target, data_tables


class Status(str, Enum):
    """What the old import path does on the target."""

    REDIRECTED = "redirected"  # still imports, with a deprecation warning, the same object
    MISSING = "missing"  # no longer imports
    CHANGED = "changed"  # imports, but gives another kind of object (NOTSET -> class ArgNotSet)


@dataclass(frozen=True)
class Move:
    """One old ``module.Name`` and where the same object lives on the target."""

    old: str
    status: Status
    kind: str  # class, function, instance, module
    new: str | None  # the best-ranked home, verified or not
    verified: bool  # exactly one object of the same kind and qualified name answers
    candidates: tuple[str, ...]
    old_now: str = ""  # for CHANGED: what the old path gives on the target

    @property
    def legacy(self) -> bool:
        """An Airflow 1.10 name (``airflow.contrib``, ``*_operator`` modules)."""
        return self.old.startswith("airflow.contrib.") or _is_1_10_module(self.old)


def _is_1_10_module(old: str) -> bool:
    module = old.rsplit(".", 1)[0]
    return module.endswith(("_operator", "_hook", "_sensor")) or ".operators.dummy" in module


@dataclass(frozen=True)
class Moves:
    """The move table that applies to one target."""

    table: str  # the release whose table is used
    moves: dict[str, Move]

    def get(self, old: str) -> Move | None:
        return self.moves.get(old)


@cache
def _load(version: str) -> dict[str, Move]:
    data = json.loads(data_tables("moves")[version].read_text())
    return {
        old: Move(
            old=old,
            status=Status(entry["status"]),
            kind=entry["kind"],
            new=entry.get("new"),
            verified=bool(entry.get("verified")),
            candidates=tuple(entry.get("candidates", ())),
            old_now=_describe(entry.get("old_now")),
        )
        for old, entry in data["moves"].items()
    }


def _describe(old_now: dict | None) -> str:
    if not old_now:
        return ""
    name = f"{old_now['module']}.{old_now['qualname']}".rstrip(".")
    return f"the {old_now['kind']} `{name}`"


def moves_for(target: Target) -> Moves:
    """The table for ``target``: its own, else the newest older table of the same major."""
    chosen = target.table(data_tables("moves"))
    if chosen is None:
        return Moves("", {})
    return Moves(chosen, _load(chosen))
