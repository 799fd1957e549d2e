"""Reading an MWAA environment: ``mwaa://NAME[?region=R]`` live, or a saved ``get-environment``.

Why both: a live read needs the source account's credentials, while a plan is often made
and reviewed by someone else, offline; ``aws mwaa get-environment --name X > old.json``
gives them the same input. Tags come from ListTagsForResource (GetEnvironment's copy is
the same map, but only the tagging API is documented as authoritative for it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from airshift.env import aws
from airshift.errors import AirshiftError

SCHEME = "mwaa://"


@dataclass(frozen=True)
class MwaaUrl:
    """``mwaa://NAME?region=R``: an environment by name, in a region (default: the profile's)."""

    name: str
    region: str | None = None

    @classmethod
    def parse(cls, url: str) -> MwaaUrl:
        parsed = urlparse(url)
        region = parse_qs(parsed.query).get("region", [None])[0]
        name = parsed.netloc or parsed.path.strip("/")
        if parsed.scheme != "mwaa" or not name:
            raise AirshiftError(f"{url!r} is not mwaa://NAME[?region=REGION].")
        return cls(name, region)


def is_mwaa_url(location: str) -> bool:
    return location.startswith(SCHEME)


@dataclass(frozen=True)
class Environment:
    """An MWAA environment as GetEnvironment describes it, with its tags."""

    data: dict[str, Any]  # GetEnvironment's "Environment", as the service returned it
    tags: dict[str, str] = field(default_factory=dict)
    origin: str = ""

    @property
    def name(self) -> str:
        return self.data["Name"]

    @property
    def version(self) -> str:
        return self.data["AirflowVersion"]

    @property
    def arn(self) -> aws.Arn:
        return aws.Arn.parse(self.data["Arn"])

    @property
    def bucket(self) -> str:
        return aws.bucket_name(self.data["SourceBucketArn"])

    def path(self, setting: str) -> str | None:
        """An S3 key setting (``DagS3Path``, ``RequirementsS3Path``, ...), None when unset."""
        return self.data.get(setting) or None


def read_environment(location: str, mwaa: Any | None = None) -> Environment:
    """The environment at ``mwaa://NAME`` (GetEnvironment + ListTagsForResource) or in a file."""
    if is_mwaa_url(location):
        url = MwaaUrl.parse(location)
        mwaa = mwaa or aws.client("mwaa", url.region)
        with aws.calling(f"GetEnvironment {url.name}"):
            data = mwaa.get_environment(Name=url.name)["Environment"]
        with aws.calling(f"ListTagsForResource {data['Arn']}"):
            tags = mwaa.list_tags_for_resource(ResourceArn=data["Arn"]).get("Tags", {})
        return Environment(data, dict(tags), location)
    return _from_file(Path(location))


def _from_file(path: Path) -> Environment:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AirshiftError(
            f"Cannot read {path} as the JSON output of `aws mwaa get-environment`: {exc}"
        ) from exc
    data = document.get("Environment", document) if isinstance(document, dict) else None
    missing = [
        k for k in ("Name", "Arn", "AirflowVersion", "SourceBucketArn") if k not in (data or {})
    ]
    if data is None or missing:
        raise AirshiftError(
            f"{path} is not the output of `aws mwaa get-environment` "
            f"(no {', '.join(missing) or 'Environment'})."
        )
    return Environment(data, dict(data.get("Tags") or {}), str(path))
