"""When each Airflow release was published, and the resolution rule built on it.

Why a date and not a list of pins: an Airflow release is tested against the newest
dependencies of its day (its constraint files are generated then). Installing it today
without a rule takes today's newest versions instead, a combination nobody tested: a new
``cryptography`` broke every Airflow 2 runtime that way. Resolving "as of the release"
(uv's ``--exclude-newer``) gives back the set the release was tested against, for any
Python version and platform, from any index that records upload times (PyPI does; PEP 700),
and stays the same next year. Shipping exact pins per release would need one list per Python
version and platform, and still the index. docs/runtimes.md says more.

``data/releases.json`` holds the upload time of every release (``scripts/gen_releases.py``
regenerates it). A release newer than the data is looked up at the index, with a one-line
note; where the index cannot say, the install is refused, never made unpinned.
"""

from __future__ import annotations

import hashlib
import json
import os
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from importlib import resources

from packaging.utils import parse_sdist_filename, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from airshift.errors import AirshiftError

# The rule's name is part of every runtime's identity: change it (and the name) whenever the
# way runtimes resolve changes, so that no runtime made by the old rule is reused.
RULE = "release-upload-time+1h"
# Airflow 3 publishes apache-airflow, apache-airflow-core and apache-airflow-task-sdk within
# minutes of each other, the meta package sometimes first: the cut-off leaves room for them.
MARGIN = timedelta(hours=1)
PYPI_SIMPLE = "https://pypi.org/simple"
PACKAGE = "apache-airflow"
# Releases the rule alone resolves to a set they do not work with: a dependency published
# hours before the release broke it, and Airflow limited that dependency in its next release.
# Each entry is the limit that next release added; found by the version matrix
# (docs/airflow-3.4.md). Exact or bounded requirements, part of the runtime's identity.
LIMITS: dict[str, tuple[str, ...]] = {
    # Flask-Session 0.6.0 (2024-01-18) breaks `airflow db migrate` with "SqlAlchemySession
    # Interface.__init__() missing 6 required positional arguments" (apache/airflow#36883);
    # Airflow 2.8.2 requires flask-session<0.6 (apache/airflow#36895). An MWAA version.
    "2.8.1": ("flask-session<0.6",),
}


@dataclass(frozen=True)
class Resolution:
    """How one Airflow release's dependencies are chosen: nothing uploaded after ``cutoff``."""

    version: str
    uploaded: datetime
    from_data: bool  # False: looked up at the index because the shipped data predates it
    rule: str = RULE

    @property
    def cutoff(self) -> datetime:
        return self.uploaded + MARGIN

    @property
    def cutoff_text(self) -> str:
        return self.cutoff.strftime("%Y-%m-%dT%H:%M:%SZ")

    def digest(self, requirements: Iterable[str], python: str) -> str:
        """Names one runtime: the rule, the cut-off, what is installed and for which Python."""
        spec = json.dumps([self.rule, self.cutoff_text, sorted(requirements), python])
        return hashlib.sha256(spec.encode()).hexdigest()[:10]


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@cache
def shipped() -> dict[str, str]:
    """version -> upload time (ISO, UTC) of every release in the data shipped with airshift."""
    raw = resources.files("airshift").joinpath("data/releases.json").read_text()
    return dict(json.loads(raw)["releases"])


def index_url() -> str:
    """The package index runtimes come from: uv's setting, else pip's, else PyPI."""
    for name in ("UV_DEFAULT_INDEX", "UV_INDEX_URL", "PIP_INDEX_URL"):
        if os.environ.get(name):
            return os.environ[name].rstrip("/")
    return PYPI_SIMPLE


def _file_version(filename: str) -> str | None:
    try:
        if filename.endswith(".whl"):
            return str(parse_wheel_filename(filename)[1])
        return str(parse_sdist_filename(filename)[1])
    except (ValueError, InvalidVersion):
        return None


def upload_times(index: str, package: str = PACKAGE, timeout: float = 30) -> dict[str, str]:
    """version -> latest upload time of its files, from the index's JSON simple API (PEP 691)."""
    request = urllib.request.Request(
        f"{index}/{package}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        files = json.load(response)["files"]
    latest: dict[str, str] = {}
    for entry in files:
        version, uploaded = _file_version(entry["filename"]), entry.get("upload-time")
        if version and uploaded:
            stamp = parse_time(uploaded).strftime("%Y-%m-%dT%H:%M:%SZ")
            latest[version] = max(latest.get(version, stamp), stamp)
    return latest


def resolve(version: str, note: Callable[[str], object] = lambda _: None) -> Resolution:
    """The resolution of ``version``: from the shipped data, else from the index (with a note).

    Raises AirshiftError when neither knows the release: an install without a cut-off would be
    exactly the untested combination this rule exists to avoid.
    """
    try:
        Version(version)
    except InvalidVersion as exc:
        raise AirshiftError(f"{version!r} is not an Airflow version.") from exc
    if version in shipped():
        return Resolution(version, parse_time(shipped()[version]), from_data=True)
    index = index_url()
    try:
        found = upload_times(index).get(version)
    except (OSError, ValueError, KeyError) as exc:
        raise AirshiftError(
            f"Airflow {version} is newer than airshift's release data, and its upload time "
            f"could not be read from {index} ({exc}). airshift installs a release only as of "
            "its release date; install it from a wheelhouse (`airshift runtimes install "
            f"{version} --from DIR`) or point at an installed one (--airflow-venv {version}=PATH)."
        ) from exc
    if not found:
        raise AirshiftError(
            f"Airflow {version} is not on {index} (or the index does not record upload times). "
            "Check the version, or install it from a wheelhouse (`airshift runtimes install "
            f"{version} --from DIR`) or use --airflow-venv {version}=PATH."
        )
    resolution = Resolution(version, parse_time(found), from_data=False)
    note(
        f"note: Airflow {version} is newer than airshift's release data; its dependencies are "
        f"resolved as of its upload time ({resolution.cutoff_text}, from {index})."
    )
    return resolution
