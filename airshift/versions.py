"""Alembic revision <-> Airflow version, read from Airflow's own migration files.

Why: a metadata database says what it is only through ``alembic_version``. This module
names the Airflow release(s) behind a revision, and picks the Airflow release whose
migrations can build or upgrade a database at that revision (a 3.x chain starts at
2.7.0; older databases must go through 2.x first). The facts live in
``data/revisions.json``, generated from the real packages by ``scripts/gen_revisions.py``.

Pre-releases (``prereleases`` in the data, 3.4.0b2 say) are known under their own name:
a database at their head is named, and ``--to 3.4`` picks one while no final 3.4 exists,
but ``latest`` and the default targets stay on final releases.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

from packaging.version import Version

from airshift.errors import UnknownRevision


def vkey(version: str) -> Version:
    """Sort key for Airflow versions ('3.3.2' < '3.4.0b2' < '3.4.0')."""
    return Version(version)


@cache
def _data() -> dict:
    return json.loads(resources.files("airshift").joinpath("data/revisions.json").read_text())


@dataclass(frozen=True)
class Revision:
    """What airshift knows about one Alembic revision."""

    revision: str
    introduced_in: str  # the Airflow version whose migration created it
    releases: tuple[str, ...]  # released versions whose schema head is exactly this revision

    @property
    def label(self) -> str:
        """A human name: 'Airflow 2.10.3 to 2.11.2', 'Airflow 3.4.0b2 (pre-release)', or one
        between releases."""
        if not self.releases:
            return f"Airflow {self.introduced_in} (a revision between releases)"
        first, last = self.releases[0], self.releases[-1]
        name = f"Airflow {first}" if first == last else f"Airflow {first} to {last}"
        return name + (" (pre-release)" if all(map(is_prerelease, self.releases)) else "")

    @property
    def major(self) -> int:
        return vkey(self.introduced_in).major


def is_prerelease(release: str) -> bool:
    return vkey(release).is_prerelease


def known_releases() -> list[str]:
    """Final releases and the pre-releases the data has, oldest first."""
    return sorted([*_data()["releases"], *_data().get("prereleases", [])], key=vkey)


@cache  # pure, and asked a thousand times by one import (releases_at loops over it)
def head_of(release: str) -> str | None:
    """The schema head of a released version (heads change only in listed versions)."""
    heads = _data()["heads"]
    listed = [v for v in heads if vkey(v) <= vkey(release)]
    return heads[max(listed, key=vkey)] if listed else None


@cache
def releases_at(revision: str) -> tuple[str, ...]:
    """Known releases (pre-releases too) whose schema head is ``revision``, oldest first."""
    return tuple(r for r in known_releases() if head_of(r) == revision)


def describe(revision: str) -> Revision:
    """The Revision for ``revision``, or a clear error when airshift does not know it."""
    introduced = _data()["revisions"].get(revision)
    if introduced is None:
        raise UnknownRevision(
            f"Unknown Alembic revision {revision!r}: it is not in the migration chain of any "
            f"Airflow release airshift knows (up to {known_releases()[-1]}). The database may be "
            "from a newer Airflow than this airshift, or from a patched build."
        )
    return Revision(revision, introduced, releases_at(revision))


def latest_release() -> str:
    """The newest final release (never a pre-release)."""
    return _data()["releases"][-1]


def resolve_release(spec: str) -> str:
    """A release for '3', '3.3', '3.3.2', '3.4.0b2' or 'latest': the newest final release
    that matches, else (no final yet, as for 3.4 while it is in beta) the newest pre-release."""
    if spec == "latest":
        return latest_release()
    matches = [r for r in known_releases() if r == spec or r.startswith(spec + ".")]
    finals = [r for r in matches if not is_prerelease(r) or r == spec]
    if not matches:
        newest = known_releases()[-1]
        raise UnknownRevision(
            f"Unknown Airflow version {spec!r}; airshift knows 2.0.0 to {newest}."
        )
    return (finals or matches)[-1]


def release_for(revision: str) -> str:
    """The newest released Airflow whose schema head is ``revision`` (to build it natively).

    Falls back to the newest release whose migration chain contains the revision, which
    can reach it with ``db migrate --to-revision``.
    """
    exact = releases_at(revision)
    if exact:
        return exact[-1]
    chains = _data()["chains"]
    holders = [v for v, chain in chains.items() if revision in chain]
    if not holders:
        describe(revision)  # raises for unknown revisions
        raise UnknownRevision(f"No known Airflow release can build a database at {revision}.")
    return max(holders, key=vkey)


def is_older(a: str, b: str) -> bool:
    """Is revision ``a`` older than revision ``b`` (by the version that introduced them)?"""
    ra, rb = describe(a), describe(b)
    if ra.introduced_in != rb.introduced_in:
        return vkey(ra.introduced_in) < vkey(rb.introduced_in)
    for chain in _data()["chains"].values():
        if a in chain and b in chain:
            return chain.index(a) < chain.index(b)
    return False


def can_upgrade(release: str, revision: str) -> bool:
    """Can ``release``'s migrations start from a database at ``revision``?

    Known chains are checked directly; for other releases the rule measured on the real
    packages applies: 3.x migrates from 2.7.0 on, 2.x from 1.x on.
    """
    chain = _data()["chains"].get(release)
    if chain is not None:
        return revision in chain
    introduced = vkey(describe(revision).introduced_in)
    floor = Version("2.7") if vkey(release).major >= 3 else Version("0")
    return floor <= introduced <= Version(vkey(release).base_version)
