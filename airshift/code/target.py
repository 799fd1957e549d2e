"""The Airflow version a project is checked against.

Why validate against airshift's release table: a typo such as ``4.0.0`` would otherwise surface
minutes later as a failed virtualenv install; the table is the list of releases airshift knows
how to migrate between. A minor version (``3.3``) means the newest known release of it
(``3.3.2``), and the report says which release that was.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources

from airshift.errors import AirshiftError


def known_releases() -> list[str]:
    """Airflow releases in airshift's revision table, oldest first."""
    data = json.loads(resources.files("airshift").joinpath("data/revisions.json").read_text())
    return list(data["releases"])


def version_key(version: str) -> tuple[int, ...]:
    """``"3.3.2"`` -> ``(3, 3, 2)`` for ordering releases."""
    return tuple(int(part) for part in version.split("."))


@dataclass(frozen=True)
class Target:
    """A known Airflow release; ``major`` decides which rule sets apply."""

    version: str
    requested: str = ""  # what the user typed, when it was a minor version such as "3.3"

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    def at_least(self, version: str) -> bool:
        """Whether the target is ``version`` or newer (e.g. ``schedule=`` needs 2.4)."""
        return version_key(self.version) >= version_key(version)

    @property
    def note(self) -> str:
        """What a minor-version target was taken to mean, for the report ('' otherwise)."""
        if not self.requested:
            return ""
        return f"--target {self.requested} means Airflow {self.version}, the newest {self.requested}.x airshift knows."


def parse_target(version: str) -> Target:
    """The target for ``--target VERSION``, or a clear error naming the known releases."""
    releases = known_releases()
    version = version.strip()
    if version in releases:
        return Target(version)
    same_minor = [r for r in releases if r.startswith(version + ".") and r.count(".") == 2]
    if version.count(".") == 1 and same_minor:
        return Target(max(same_minor, key=version_key), requested=version)
    newest = ", ".join(releases[-5:])
    raise AirshiftError(
        f"Unknown Airflow target version {version!r}. Use a released version such as "
        f"{newest} or a minor version such as {releases[-1].rsplit('.', 1)[0]} "
        f"(airshift knows {releases[0]} to {releases[-1]})."
    )
