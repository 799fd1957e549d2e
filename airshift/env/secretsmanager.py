"""Connections and variables into AWS Secrets Manager, named as Airflow's backend reads them.

Why here and in this shape: MWAA users keep connections in Secrets Manager, read by the
amazon provider's ``SecretsManagerBackend`` as ``{connections_prefix}{sep}{conn_id}`` and
``{variables_prefix}{sep}{key}``. A connection is written as the JSON object that backend
reads back into the same fields (``conn_type``, ``host``, ``schema``, ``login``,
``password``, ``port``, ``extra``; it standardizes the keys and drops any other, so a
description does not survive), a variable as its plain value. ``write_secrets`` takes the
decrypted values the importer holds, is idempotent (an equal secret is left alone) and
never replaces a different value unless asked; values never appear in its results.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any
from urllib.parse import parse_qs, urlparse

from airshift.env import aws, offer
from airshift.errors import AirshiftError

SCHEME = "aws-secretsmanager"
BACKEND = "airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend"
DEFAULT_CONNECTIONS_PREFIX = "airflow/connections"
DEFAULT_VARIABLES_PREFIX = "airflow/variables"
_CONNECTION_FIELDS = ("conn_type", "host", "schema", "login", "password", "port", "extra")
MAX_SECRET_BYTES = 65_536
_SECRET_NAME = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,512}$")  # Secrets Manager's rule for names


@dataclass(frozen=True)
class SecretsManagerTarget:
    """``aws-secretsmanager://[CONNECTIONS_PREFIX,VARIABLES_PREFIX][?region=R&sep=/&kms_key=K]``.

    ``connections_lookup_pattern=`` (empty) looks every connection up, ``aws_default`` too.
    """

    connections_prefix: str = DEFAULT_CONNECTIONS_PREFIX
    variables_prefix: str = DEFAULT_VARIABLES_PREFIX
    sep: str = "/"
    region: str | None = None
    kms_key: str | None = None
    # MWAA's default: ``aws_default`` is the execution role's and never read from here.
    connections_lookup_pattern: str | None = offer.MWAA_CONNECTIONS_LOOKUP_PATTERN

    @classmethod
    def parse(cls, url: str) -> SecretsManagerTarget:
        parsed = urlparse(url)
        if parsed.scheme != SCHEME:
            raise AirshiftError(
                f"{url!r} is not {SCHEME}://[CONNECTIONS_PREFIX,VARIABLES_PREFIX][?region=R]."
            )
        prefixes = (parsed.netloc + parsed.path).split(",")
        if len(prefixes) > 2:
            raise AirshiftError(f"{url!r} names more than two prefixes (connections,variables).")
        query = {k: v[0] for k, v in parse_qs(parsed.query, keep_blank_values=True).items()}
        unknown = set(query) - {"region", "sep", "kms_key", "connections_lookup_pattern"}
        if unknown:
            raise AirshiftError(f"{url!r}: unknown parameter(s) {', '.join(sorted(unknown))}.")
        sep = query.get("sep", "/")
        connections = prefixes[0].strip().rstrip(sep) or DEFAULT_CONNECTIONS_PREFIX
        variables = (prefixes[1] if len(prefixes) > 1 else "").strip().rstrip(sep)
        pattern = query.get("connections_lookup_pattern", offer.MWAA_CONNECTIONS_LOOKUP_PATTERN)
        return cls(
            connections,
            variables or DEFAULT_VARIABLES_PREFIX,
            sep,
            query.get("region") or None,
            query.get("kms_key") or None,
            pattern or None,
        )

    def looks_up(self, conn_id: str) -> bool:
        """Whether SecretsManagerBackend would look ``conn_id`` up (it matches case-insensitively)."""
        pattern = self.connections_lookup_pattern
        return not pattern or re.match(pattern, conn_id, re.IGNORECASE) is not None

    def connection_name(self, conn_id: str) -> str:
        return f"{self.connections_prefix}{self.sep}{conn_id}"

    def variable_name(self, key: str) -> str:
        return f"{self.variables_prefix}{self.sep}{key}"

    def backend_options(self) -> dict[str, str]:
        """The ``secrets.*`` options that make Airflow read what ``write_secrets`` wrote.

        MWAA's default lookup pattern is kept: ``aws_default`` stays the execution role's.
        """
        kwargs: dict[str, str] = {
            "connections_prefix": self.connections_prefix,
            "variables_prefix": self.variables_prefix,
        }
        if self.connections_lookup_pattern:
            kwargs["connections_lookup_pattern"] = self.connections_lookup_pattern
        if self.sep != "/":
            kwargs["sep"] = self.sep
        if self.region:
            kwargs["region_name"] = self.region
        return {"secrets.backend": BACKEND, "secrets.backend_kwargs": json.dumps(kwargs)}

    def secret_arn_patterns(self, partition: str, region: str, account: str) -> list[str]:
        """ARNs covering every secret written here (Secrets Manager appends a random suffix)."""
        base = f"arn:{partition}:secretsmanager:{self.region or region}:{account}:secret:"
        return [base + self.connection_name("*"), base + self.variable_name("*")]


@dataclass(frozen=True)
class ConnectionValue:
    """One connection with its secrets decrypted, as the importer holds it."""

    conn_id: str
    conn_type: str | None = None
    host: str | None = None
    schema: str | None = None
    login: str | None = None
    password: str | None = None
    port: int | None = None
    extra: str | None = None
    description: str | None = None  # not readable through SecretsManagerBackend

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> ConnectionValue:
        """From a ``connection`` table row whose ``password``/``extra`` are already decrypted."""
        names = ("conn_id", *_CONNECTION_FIELDS, "description")
        values: dict[str, Any] = {name: row.get(name) for name in names}
        return cls(**values)

    def secret_string(self) -> str:
        """The JSON object SecretsManagerBackend turns back into this connection."""
        values = {name: getattr(self, name) for name in _CONNECTION_FIELDS}
        return json.dumps({k: v for k, v in values.items() if v is not None}, sort_keys=True)


@dataclass(frozen=True)
class VariableValue:
    """One variable with its value decrypted."""

    key: str
    value: str

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> VariableValue:
        """From a ``variable`` table row whose ``val`` is already decrypted."""
        return cls(row["key"], row["val"])


class Status(str, Enum):
    CREATED = "created"
    SKIPPED = "skipped"  # the backend would never look it up (connections_lookup_pattern)
    OVERWRITTEN = "overwritten"
    UNCHANGED = "unchanged"
    CONFLICT = "conflict"  # a different value is there and overwrite was not asked for
    FAILED = "failed"


@dataclass(frozen=True)
class SecretResult:
    kind: str  # "connection" or "variable"
    key: str  # conn_id or variable key
    secret_name: str
    status: Status
    message: str = ""


@dataclass
class SecretsReport:
    """What happened to each connection and variable; ``dry_run`` means nothing was written."""

    target: SecretsManagerTarget
    dry_run: bool
    results: list[SecretResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return dict(Counter(result.status.value for result in self.results))

    @property
    def problems(self) -> list[SecretResult]:
        return [r for r in self.results if r.status in (Status.CONFLICT, Status.FAILED)]


def write_secrets(
    connections: Iterable[ConnectionValue],
    variables: Iterable[VariableValue],
    target: SecretsManagerTarget,
    overwrite: bool = False,
    dry_run: bool = False,
    client: Any | None = None,
    progress: Callable[[SecretResult], None] | None = None,
) -> SecretsReport:
    """Write every connection and variable to Secrets Manager under the backend's names."""
    client = client or aws.client("secretsmanager", target.region)
    report = SecretsReport(target, dry_run)
    items: list[tuple[str, str, str, str]] = []
    described = []
    for conn in connections:
        if not target.looks_up(conn.conn_id):
            report.results.append(
                SecretResult(
                    "connection",
                    conn.conn_id,
                    target.connection_name(conn.conn_id),
                    Status.SKIPPED,
                    f"the backend never looks it up (connections_lookup_pattern "
                    f"{target.connections_lookup_pattern}); it stays the execution role's.",
                )
            )
            continue
        items.append(
            ("connection", conn.conn_id, target.connection_name(conn.conn_id), conn.secret_string())
        )
        if conn.description:
            described.append(conn.conn_id)
    items += [("variable", v.key, target.variable_name(v.key), v.value) for v in variables]
    if described:
        report.notes.append(
            "SecretsManagerBackend reads no connection description; not carried for: "
            + ", ".join(sorted(described))
        )
    for kind, key, name, value in items:
        result = _write_one(client, target, kind, key, name, value, overwrite, dry_run)
        report.results.append(result)
        if progress:
            progress(result)
    return report


def _write_one(
    client: Any,
    target: SecretsManagerTarget,
    kind: str,
    key: str,
    name: str,
    value: str,
    overwrite: bool,
    dry_run: bool,
) -> SecretResult:
    from botocore.exceptions import BotoCoreError, ClientError

    if len(value.encode()) > MAX_SECRET_BYTES:
        return SecretResult(
            kind, key, name, Status.FAILED, "larger than Secrets Manager's 64 KiB per secret."
        )
    if not _SECRET_NAME.match(name):
        return SecretResult(
            kind,
            key,
            name,
            Status.FAILED,
            "not a valid Secrets Manager name (1-512 of A-Z a-z 0-9 / _ + = . @ -).",
        )
    try:
        current = _current_value(client, name)
        if current is None:
            if not dry_run:
                extra = {"KmsKeyId": target.kms_key} if target.kms_key else {}
                client.create_secret(
                    Name=name, SecretString=value, Description=f"Airflow {kind} {key}", **extra
                )
            return SecretResult(kind, key, name, Status.CREATED)
        if _same(current, value):
            return SecretResult(kind, key, name, Status.UNCHANGED)
        if not overwrite:
            return SecretResult(
                kind,
                key,
                name,
                Status.CONFLICT,
                "a different value is stored there; left as it is (overwrite to replace it).",
            )
        if not dry_run:
            client.put_secret_value(SecretId=name, SecretString=value)
        return SecretResult(kind, key, name, Status.OVERWRITTEN)
    except ClientError as exc:
        message = exc.response.get("Error", {}).get("Message", str(exc))
        return SecretResult(kind, key, name, Status.FAILED, f"{aws.error_code(exc)}: {message}")
    except BotoCoreError as exc:
        return SecretResult(kind, key, name, Status.FAILED, str(exc))


def _current_value(client: Any, name: str) -> str | None:
    """The secret's current string, or None when there is no such secret."""
    from botocore.exceptions import ClientError

    try:
        response = client.get_secret_value(SecretId=name)
    except ClientError as exc:
        if aws.error_code(exc) == "ResourceNotFoundException":
            return None
        raise
    return response.get("SecretString")


def _same(current: str, value: str) -> bool:
    """Equal strings, or equal JSON objects (a connection written with other key order or
    spacing); a variable's text is compared as text ("1.0" is not "1")."""
    if current == value:
        return True
    try:
        old, new = json.loads(current), json.loads(value)
    except (TypeError, ValueError):
        return False
    return isinstance(old, dict) and old == new
