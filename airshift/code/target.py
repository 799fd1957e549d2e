"""The Airflow version a project is checked against.

Why validate against airshift's release table: a typo such as ``3.3`` or ``4.0.0`` would
otherwise surface minutes later as a failed virtualenv install; the table is the list of
releases airshift knows how to migrate between.
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


@dataclass(frozen=True)
class Target:
    """A known Airflow release; ``major`` decides which rule sets apply."""

    version: str

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    def at_least(self, version: str) -> bool:
        """Whether the target is ``version`` or newer (e.g. ``schedule=`` needs 2.4)."""
        return _parts(self.version) >= _parts(version)


def _parts(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def parse_target(version: str) -> Target:
    """The target for ``--target VERSION``, or a clear error naming the known releases."""
    releases = known_releases()
    version = version.strip()
    if version not in releases:
        newest = ", ".join(releases[-5:])
        raise AirshiftError(
            f"Unknown Airflow target version {version!r}. Use a released version such as "
            f"{newest} (airshift knows {releases[0]} to {releases[-1]})."
        )
    return Target(version)
