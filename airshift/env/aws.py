"""AWS clients for ``airshift env``, ARNs, and service errors as one-paragraph messages.

Why one module: every command here talks to three or four AWS services (MWAA, S3, IAM,
Secrets Manager), and each must be created the same way (the caller's credential chain,
botocore's standard retries for throttling) and fail the same way (an ``AirshiftError``
naming the operation, not a traceback). Tests replace ``client`` to hand out a
``botocore.stub.Stubber``-wrapped MWAA client, since nothing serves MWAA offline.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from airshift.errors import AirshiftError


def client(service: str, region: str | None = None) -> Any:
    """A boto3 client for ``service``; boto3 is an optional dependency (``airshift[aws]``)."""
    try:
        import boto3
        from botocore.config import Config
    except ImportError:  # pragma: no cover - depends on how airshift was installed
        raise AirshiftError("airshift env needs boto3: pip install 'airshift[aws]'.") from None
    config = Config(retries={"mode": "standard", "max_attempts": 8})
    return boto3.client(service, region_name=region, config=config)


@contextmanager
def calling(what: str) -> Iterator[None]:
    """Turn a botocore error inside the block into an AirshiftError that says ``what`` failed."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise AirshiftError(
            f"{what} failed: {error.get('Code', 'error')}: {error.get('Message', exc)}"
        ) from exc
    except BotoCoreError as exc:
        raise AirshiftError(f"{what} failed: {exc}") from exc


def error_code(exc: Exception) -> str:
    """The AWS error code of a botocore ClientError ('' for anything else)."""
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


@dataclass(frozen=True)
class Arn:
    """``arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE``."""

    partition: str
    service: str
    region: str
    account: str
    resource: str

    @classmethod
    def parse(cls, text: str) -> Arn:
        parts = text.split(":", 5)
        if len(parts) != 6 or parts[0] != "arn":
            raise AirshiftError(f"{text!r} is not an ARN.")
        return cls(*parts[1:])

    def sibling(self, service: str, resource: str, region: str | None = None) -> str:
        """An ARN of another resource in the same partition, account and region."""
        region = self.region if region is None else region
        return f"arn:{self.partition}:{service}:{region}:{self.account}:{resource}"


def kms_key_arn(key: str, partition: str, region: str, account: str) -> str:
    """A KMS key as an ARN: MWAA also accepts a key id or ``alias/NAME``, Terraform only ARNs."""
    if key.startswith("arn:"):
        return key
    resource = key if key.startswith(("alias/", "key/")) else f"key/{key}"
    return f"arn:{partition}:kms:{region}:{account}:{resource}"


def bucket_arn(bucket: str, partition: str = "aws") -> str:
    """``arn:aws:s3:::NAME`` for a bucket name (an ARN is returned unchanged)."""
    return bucket if bucket.startswith("arn:") else f"arn:{partition}:s3:::{bucket}"


def bucket_name(bucket: str) -> str:
    """The bucket name of ``arn:aws:s3:::NAME``, ``s3://NAME`` or ``NAME``."""
    return bucket.rsplit(":", 1)[-1].removeprefix("s3://").split("/", 1)[0]
