"""Pipelines read straight from an AWS account: ``datapipeline://ID`` and ``datapipeline://``.

Why: users migrating off Data Pipeline have dozens of pipelines in an account and rarely a
definition file for each. The Data Pipeline API holds them all: ``list_pipelines`` (ids
and names, paged), ``describe_pipelines`` (state and tags, 25 ids a call) and
``get_pipeline_definition`` (objects, parameter objects and values in the API form that
``loader.definition_from`` reads). The active definition is read for a pipeline that is
running, the latest saved one otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from airshift.env.aws import calling
from airshift.errors import AirshiftError

SCHEME = "datapipeline://"
_DESCRIBE_BATCH = 25  # the API's limit for describe_pipelines
_ACTIVE_STATES = {"SCHEDULED", "ACTIVATING", "SHUTTING_DOWN"}


@dataclass
class AccountPipeline:
    """One pipeline of the account, as ``describe_pipelines`` reports it."""

    pipeline_id: str
    name: str
    state: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    description: str | None = None

    def origin(self, region: str | None) -> dict[str, Any]:
        info: dict[str, Any] = {"pipeline id": self.pipeline_id, "pipeline name": self.name}
        if region:
            info["region"] = region
        if self.state:
            info["state"] = self.state
        if self.tags:
            info["tags"] = ", ".join(f"{k}={v}" for k, v in sorted(self.tags.items()))
        return info


def pipeline_id_of(source: str) -> str | None:
    """``datapipeline://ID`` -> ``"ID"``, ``datapipeline://`` -> ``""``; ``None`` if no URL."""
    if not source.startswith(SCHEME):
        return None
    return source[len(SCHEME) :].strip("/")


def client(region: str | None = None) -> Any:
    """A boto3 Data Pipeline client (credentials, region and endpoint from the environment)."""
    try:
        import boto3
        from botocore.exceptions import BotoCoreError
    except ImportError as exc:
        raise AirshiftError(
            "reading pipelines from AWS needs boto3: pip install 'airshift[aws]'."
        ) from exc
    try:
        return boto3.client("datapipeline", region_name=region)
    except BotoCoreError as exc:
        raise AirshiftError(f"cannot reach AWS Data Pipeline: {exc}") from exc


def list_pipelines(dp: Any) -> list[tuple[str, str]]:
    """(id, name) of every pipeline of the account in the client's region, all pages."""
    found, marker = [], None
    while True:
        with calling("AWS Data Pipeline ListPipelines"):
            page = dp.list_pipelines(**({"marker": marker} if marker else {}))
        found += [(p["id"], p["name"]) for p in page.get("pipelineIdList", [])]
        marker = page.get("marker")
        if not page.get("hasMoreResults") or not marker:
            return found


def describe(dp: Any, ids: list[str]) -> Iterator[AccountPipeline]:
    """Name, state, description and tags, 25 pipelines per call."""
    for start in range(0, len(ids), _DESCRIBE_BATCH):
        with calling("AWS Data Pipeline DescribePipelines"):
            batch = dp.describe_pipelines(pipelineIds=ids[start : start + _DESCRIBE_BATCH])
        for entry in batch.get("pipelineDescriptionList", []):
            fields = {f["key"]: f.get("stringValue") for f in entry.get("fields", [])}
            yield AccountPipeline(
                pipeline_id=entry["pipelineId"],
                name=entry.get("name") or fields.get("name") or entry["pipelineId"],
                state=fields.get("@pipelineState"),
                tags={t["key"]: t["value"] for t in entry.get("tags", [])},
                description=entry.get("description") or fields.get("description"),
            )


def definition(dp: Any, pipeline: AccountPipeline) -> dict[str, Any]:
    """The pipeline's definition in API form: the running version if it runs."""
    version = "active" if pipeline.state in _ACTIVE_STATES else "latest"
    with calling(f"AWS Data Pipeline GetPipelineDefinition({pipeline.pipeline_id})"):
        raw = dp.get_pipeline_definition(pipelineId=pipeline.pipeline_id, version=version)
    return {k: v for k, v in raw.items() if k != "ResponseMetadata"}
