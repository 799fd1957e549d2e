"""The Airflow version a project is checked against.

Why validate against airshift's release table: a typo such as ``4.0.0`` would otherwise surface
minutes later as a failed virtualenv install; the table is the list of releases airshift knows
how to migrate between (``airshift.versions``, pre-releases such as ``3.4.0b2`` included). A
minor version (``3.3``) means the newest known release of it (``3.3.2``; the newest
pre-release while the minor has no final release, as ``3.4`` -> ``3.4.0b2``), and the report
says which release that was.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

from airshift import versions
from airshift.errors import AirshiftError, UnknownRevision

if TYPE_CHECKING:
    from importlib.abc import Traversable  # importlib.resources.abc from Python 3.11


@dataclass(frozen=True)
class Target:
    """A known Airflow release; ``major`` decides which rule sets apply."""

    version: str
    requested: str = ""  # what the user typed, when it was a minor version such as "3.3"

    @property
    def major(self) -> int:
        return versions.vkey(self.version).major

    def at_least(self, version: str) -> bool:
        """Whether the target is ``version`` or newer (e.g. ``schedule=`` needs 2.4)."""
        return versions.vkey(self.version) >= versions.vkey(version)

    @property
    def note(self) -> str:
        """What a minor-version target was taken to mean, for the report ('' otherwise)."""
        if not self.requested:
            return ""
        return f"--target {self.requested} means Airflow {self.version}, the newest {self.requested}.x airshift knows."

    def table(self, tables: Iterable[str]) -> str | None:
        """Of generated per-release tables (moves, signatures), the one for this target: its
        own, else the newest older one of the same major version (2.8.4 uses 2.10.5's 1.10 -> 2
        moves, whose homes all exist since 2.3), else the oldest of the same major."""
        same_major = [v for v in tables if versions.vkey(v).major == self.major]
        usable = [v for v in same_major if versions.vkey(v) <= versions.vkey(self.version)]
        return max(usable or same_major, key=versions.vkey, default=None)


def parse_target(version: str) -> Target:
    """The target for ``--target VERSION``, or a clear error naming the known releases."""
    releases = versions.known_releases()
    version = version.strip()
    if version in releases:
        return Target(version)
    if version.count(".") == 1:
        try:
            return Target(versions.resolve_release(version), requested=version)
        except UnknownRevision:
            pass
    finals = [r for r in releases if not versions.is_prerelease(r)]
    newest = ", ".join(releases[-5:])
    raise AirshiftError(
        f"Unknown Airflow target version {version!r}. Use a released version such as "
        f"{newest} or a minor version such as {finals[-1].rsplit('.', 1)[0]} "
        f"(airshift knows {releases[0]} to {releases[-1]})."
    )


def data_tables(kind: str) -> dict[str, Traversable]:
    """The generated tables of one kind (``airshift/data/KIND/VERSION.json``) by version; a
    target picks its own or the nearest older one with :meth:`Target.table`."""
    folder = resources.files("airshift").joinpath(f"data/{kind}")
    if not folder.is_dir():
        return {}
    return {p.name.removesuffix(".json"): p for p in folder.iterdir() if p.name.endswith(".json")}
