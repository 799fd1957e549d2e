"""``env create``: CreateEnvironment from a plan, and waiting until MWAA says how it went.

Why a pre-flight: MWAA validates a request's S3 objects only while it builds the
environment, so a missing ``requirements.txt`` or an unversioned bucket fails the create
20-40 minutes later. The plan is checked against botocore's model and the bucket is asked
first. Why wait with progress: a create takes that long, and ``CREATE_FAILED`` carries the
reason in ``LastUpdate.Error``, which the console shows and a script usually loses.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airshift.env import aws, model
from airshift.errors import AirshiftError, ExitCode

VERSIONED = (
    ("RequirementsS3Path", "RequirementsS3ObjectVersion"),
    ("PluginsS3Path", "PluginsS3ObjectVersion"),
    ("StartupScriptS3Path", "StartupScriptS3ObjectVersion"),
)
DONE = {"AVAILABLE"}
FAILED = {"CREATE_FAILED", "UPDATE_FAILED", "UNAVAILABLE", "DELETED"}


def read_plan(path: str | Path) -> dict[str, Any]:
    """A CreateEnvironment request saved by ``env plan --format json``, validated."""
    try:
        request = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AirshiftError(f"Cannot read the plan {path}: {exc}") from exc
    if not isinstance(request, dict):
        raise AirshiftError(f"{path} is not a CreateEnvironment request (a JSON object).")
    model.validate("CreateEnvironment", request)
    return request


def write_plan(path: str | Path, request: dict[str, Any]) -> None:
    """Save a request readable by its owner only: configuration options can hold secrets."""
    write_private(Path(path), json.dumps(request, indent=2) + "\n")


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to a file only its owner can read, from the first byte on."""
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(text, encoding="utf-8")


def preflight(request: dict[str, Any], s3: Any | None = None) -> list[str]:
    """What in the bucket would fail the create: versioning off, or a missing file or version."""
    from botocore.exceptions import ClientError

    s3 = s3 or aws.client("s3")
    bucket = aws.bucket_name(request["SourceBucketArn"])
    problems = []
    with aws.calling(f"GetBucketVersioning {bucket}"):
        status = s3.get_bucket_versioning(Bucket=bucket).get("Status")
    if status != "Enabled":
        problems.append(f"s3://{bucket} has versioning off; MWAA needs a versioned bucket.")
    for path_key, version_key in VERSIONED:
        if path_key not in request:
            continue
        key, version = request[path_key], request.get(version_key)
        extra = {"VersionId": version} if version else {}
        try:
            s3.head_object(Bucket=bucket, Key=key, **extra)
        except ClientError as exc:
            what = f"version {version} of " if version else ""
            problems.append(
                f"{what}s3://{bucket}/{key} is not there ({aws.error_code(exc) or 'missing'}): "
                "run `airshift env resources SOURCE PLAN --write` first."
            )
    return problems


@dataclass(frozen=True)
class Progress:
    """One poll: the status MWAA reports and the seconds since the request."""

    status: str
    elapsed: float


@dataclass(frozen=True)
class Waiting:
    """How to wait for an environment to settle (``--wait``)."""

    poll_seconds: float = 30.0
    timeout_seconds: float = 3 * 3600
    progress: Callable[[Progress], None] | None = None
    sleep: Callable[[float], None] = time.sleep


@dataclass(frozen=True)
class CreateResult:
    name: str
    arn: str
    status: str  # the last status seen: AVAILABLE, CREATE_FAILED, or CREATING without --wait
    reason: str | None = None  # LastUpdate.Error of a failed create or update
    elapsed: float = 0.0
    webserver_url: str | None = None
    # An update MWAA could not apply: it rolls the environment back to AVAILABLE and says
    # so only in LastUpdate (Status FAILED).
    rolled_back: bool = False

    @property
    def failed(self) -> bool:
        return self.status in FAILED or self.rolled_back


def create_environment(
    request: dict[str, Any],
    wait: bool = False,
    region: str | None = None,
    mwaa: Any | None = None,
    s3: Any | None = None,
    poll_seconds: float = 30.0,
    timeout_seconds: float = 3 * 3600,
    progress: Callable[[Progress], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> CreateResult:
    """Check the bucket, call CreateEnvironment, and with ``wait`` poll until it settles."""
    model.validate("CreateEnvironment", request)
    problems = preflight(request, s3 or aws.client("s3", region))
    if problems:
        raise AirshiftError(f"{request['Name']} was not created:\n- " + "\n- ".join(problems))
    mwaa = mwaa or aws.client("mwaa", region)
    with aws.calling(f"CreateEnvironment {request['Name']}"):
        arn = mwaa.create_environment(**request)["Arn"]
    if not wait:
        return CreateResult(request["Name"], arn, "CREATING")
    return wait_until_settled(
        request["Name"], arn, mwaa, Waiting(poll_seconds, timeout_seconds, progress, sleep)
    )


def wait_until_settled(
    name: str, arn: str, mwaa: Any, waiting: Waiting, update: bool = False
) -> CreateResult:
    """Poll GetEnvironment until AVAILABLE or a failed status; the service's reason if failed.

    ``update``: after UpdateEnvironment, where AVAILABLE with ``LastUpdate.Status`` FAILED
    means MWAA rolled the update back."""
    start = time.monotonic()
    while True:
        with aws.calling(f"GetEnvironment {name}"):
            environment = mwaa.get_environment(Name=name)["Environment"]
        status, elapsed = environment["Status"], time.monotonic() - start
        if waiting.progress:
            waiting.progress(Progress(status, elapsed))
        if status in DONE | FAILED:
            last = environment.get("LastUpdate") or {}
            error = last.get("Error") or {}
            reason = " ".join(filter(None, (error.get("ErrorCode"), error.get("ErrorMessage"))))
            rolled_back = update and status in DONE and last.get("Status") == "FAILED"
            return CreateResult(
                name,
                arn,
                status,
                reason or None,
                elapsed,
                environment.get("WebserverUrl"),
                rolled_back,
            )
        if elapsed >= waiting.timeout_seconds:
            raise AirshiftError(
                f"{name} is still {status} after {elapsed / 60:.0f} minutes; it goes on in AWS "
                f"(`aws mwaa get-environment --name {name}`).",
                ExitCode.FAILED,
            )
        waiting.sleep(waiting.poll_seconds)
