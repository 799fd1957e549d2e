"""The execution role of the new environment: the IAM policy it needs, and whether it has it.

Why: an execution role is written for its environment's name (its log groups are
``airflow-<NAME>-*``, its metrics ``environment/<NAME>``), its bucket and its KMS key, so
the source's role usually lacks something the new environment needs, and the create then
fails after half an hour or the environment runs without logs. ``needs`` lists each
permission with the reason it is needed; ``policy_document`` prints them as a policy (after
MWAA's documented execution-role policy), adding the archive prefix airshift reads from and
the Secrets Manager names it writes to; ``check_role`` reads the role's own policies
(inline and attached, through IAM's read API) and reports what none of them allows.

Why read the policies rather than ``SimulatePrincipalPolicy``: reading needs only
``iam:Get*``/``iam:List*`` on the role, which an operator has more often than the simulator,
and it can be tested offline. The price, stated in every report: conditions, permission
boundaries, SCPs and resource policies are not evaluated.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from urllib.parse import unquote

from airshift.env import aws
from airshift.env.secretsmanager import SecretsManagerTarget

LIMITS = (
    "Only the role's identity policies were read: conditions, permission boundaries, "
    "service control policies and resource policies are not evaluated."
)


@dataclass(frozen=True)
class Need:
    """A group of permissions the environment needs, on these resources, for this reason."""

    sid: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    why: str
    condition: dict[str, Any] | None = None
    not_resource: bool = False  # the resources are excluded, not granted (AWS-owned KMS keys)

    def statement(self) -> dict[str, Any]:
        statement: dict[str, Any] = {
            "Sid": self.sid,
            "Effect": "Allow",
            "Action": list(self.actions),
            "NotResource" if self.not_resource else "Resource": list(self.resources),
        }
        if self.condition:
            statement["Condition"] = self.condition
        return statement


@dataclass(frozen=True)
class EnvironmentFacts:
    """What the policy depends on: where the new environment lives and what it reads."""

    name: str
    partition: str
    region: str
    account: str
    bucket: str
    kms_key: str | None = None
    archive: str | None = None  # s3://bucket/prefix of an airshift archive it reads
    secrets: SecretsManagerTarget | None = None


def needs(env: EnvironmentFacts) -> list[Need]:
    """Every permission the new environment's execution role needs."""
    arn = aws.Arn(env.partition, "airflow", env.region, env.account, "")
    bucket = aws.bucket_arn(env.bucket, env.partition)
    found = [
        Need(
            "PublishMetrics",
            ("airflow:PublishMetrics",),
            (arn.sibling("airflow", f"environment/{env.name}"),),
            "MWAA publishes the environment's metrics as the execution role.",
        ),
        Need(
            "ReadEnvironmentBucket",
            ("s3:GetObject*", "s3:GetBucket*", "s3:List*"),
            (bucket, f"{bucket}/*"),
            "DAGs, requirements, plugins and the startup script are read from the bucket.",
        ),
        Need(
            "BucketPublicAccessCheck",
            ("s3:GetAccountPublicAccessBlock",),
            ("*",),
            "MWAA checks that the bucket is not public.",
        ),
        Need(
            "WriteLogs",
            (
                "logs:CreateLogStream",
                "logs:CreateLogGroup",
                "logs:PutLogEvents",
                "logs:GetLogEvents",
                "logs:GetLogRecord",
                "logs:GetLogGroupFields",
                "logs:GetQueryResults",
            ),
            (arn.sibling("logs", f"log-group:airflow-{env.name}-*"),),
            f"Logs go to the log groups airflow-{env.name}-*, named after the new environment.",
        ),
        Need(
            "DescribeLogGroups",
            ("logs:DescribeLogGroups",),
            ("*",),
            "The web server lists the log groups.",
        ),
        Need(
            "PutMetricData",
            ("cloudwatch:PutMetricData",),
            ("*",),
            "Airflow's metrics are sent to CloudWatch.",
        ),
        Need(
            "CeleryQueue",
            (
                "sqs:ChangeMessageVisibility",
                "sqs:DeleteMessage",
                "sqs:GetQueueAttributes",
                "sqs:GetQueueUrl",
                "sqs:ReceiveMessage",
                "sqs:SendMessage",
            ),
            (f"arn:{env.partition}:sqs:{env.region}:*:airflow-celery-*",),
            "Tasks are queued in MWAA's Celery queue.",
        ),
        *_kms(env),
    ]
    if env.archive:
        archive_bucket, _, prefix = env.archive.removeprefix("s3://").partition("/")
        archive_bucket = aws.bucket_arn(archive_bucket, env.partition)
        found.append(
            Need(
                "ReadAirshiftArchive",
                ("s3:GetObject", "s3:ListBucket"),
                (archive_bucket, f"{archive_bucket}/{prefix.strip('/')}/*".replace("//", "/")),
                f"The environment reads the airshift archive at {env.archive}.",
            )
        )
    if env.secrets:
        found.append(
            Need(
                "ReadAirflowSecrets",
                ("secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"),
                tuple(env.secrets.secret_arn_patterns(env.partition, env.region, env.account)),
                "SecretsManagerBackend reads connections and variables from Secrets Manager.",
            )
        )
    return found


def _kms(env: EnvironmentFacts) -> list[Need]:
    actions = ("kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey*", "kms:Encrypt")
    services = [f"sqs.{env.region}.amazonaws.com"]
    if env.kms_key:
        key = aws.kms_key_arn(env.kms_key, env.partition, env.region, env.account)
        return [
            Need(
                "CustomerKey",
                actions,
                (key,),
                "The environment's own KMS key encrypts its queue, bucket objects and logs.",
                {"StringLike": {"kms:ViaService": [*services, f"s3.{env.region}.amazonaws.com"]}},
            )
        ]
    return [
        Need(
            "AwsOwnedKey",
            actions,
            (f"arn:{env.partition}:kms:*:{env.account}:key/*",),
            "MWAA's AWS-owned key encrypts the Celery queue.",
            {"StringLike": {"kms:ViaService": services}},
            not_resource=True,
        )
    ]


def policy_document(found: list[Need]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [need.statement() for need in found]}


@dataclass(frozen=True)
class Missing:
    sid: str
    action: str
    resource: str


@dataclass
class RoleCheck:
    """What the role's own policies do not allow (``error``: why it could not be read)."""

    role_arn: str
    missing: list[Missing] = field(default_factory=list)
    error: str | None = None
    limits: str = LIMITS

    @property
    def ok(self) -> bool:
        return self.error is None and not self.missing


def check_role(role_arn: str, found: list[Need], iam: Any | None = None) -> RoleCheck:
    """Which needed permissions none of the role's identity policies grants."""
    from botocore.exceptions import BotoCoreError, ClientError

    check = RoleCheck(role_arn)
    try:
        statements = _role_statements(role_arn, iam or aws.client("iam"))
    except (ClientError, BotoCoreError) as exc:
        check.error = f"could not read the role's policies ({exc})"
        return check
    for need in found:
        if need.not_resource:
            continue  # "any key but the account's own": no single resource to test
        for action in need.actions:
            for resource in need.resources:
                if not _allowed(statements, action, resource):
                    check.missing.append(Missing(need.sid, action, resource))
    return check


def _role_statements(role_arn: str, iam: Any) -> list[dict[str, Any]]:
    name = role_arn.rsplit("/", 1)[-1]
    documents = []
    for page in iam.get_paginator("list_role_policies").paginate(RoleName=name):
        for policy in page["PolicyNames"]:
            documents.append(
                iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"]
            )
    for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=name):
        for attached in page["AttachedPolicies"]:
            arn = attached["PolicyArn"]
            version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
            body = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]
            documents.append(body["Document"])
    statements = []
    for document in documents:
        if isinstance(document, str):  # IAM returns URL-encoded JSON over the query API
            document = json.loads(unquote(document))
        body = document.get("Statement", [])
        statements += body if isinstance(body, list) else [body]
    return statements


def _allowed(statements: list[dict[str, Any]], action: str, resource: str) -> bool:
    """An unconditional explicit Deny wins; otherwise any Allow (conditions not evaluated)."""
    matching = [s for s in statements if _applies(s, action, resource)]
    if any(s.get("Effect") == "Deny" and not s.get("Condition") for s in matching):
        return False
    return any(s.get("Effect") == "Allow" for s in matching)


def _applies(statement: dict[str, Any], action: str, resource: str) -> bool:
    if "Action" in statement:
        acts = _any(statement["Action"], action, ignore_case=True)
    else:
        acts = not _any(statement.get("NotAction", []), action, ignore_case=True)
    if "Resource" in statement:
        res = _any(statement["Resource"], resource)
    else:
        res = not _any(statement.get("NotResource", []), resource)
    return acts and res


def _any(patterns: str | list[str], value: str, ignore_case: bool = False) -> bool:
    """Whether an IAM pattern in ``patterns`` covers ``value``. Both may hold wildcards: a
    needed resource ``airflow-new-*`` is covered by ``airflow-*`` but not ``airflow-old-*``."""
    items = [patterns] if isinstance(patterns, str) else patterns
    return any(_pattern(p, ignore_case).fullmatch(value) for p in items)


@cache
def _pattern(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, re.IGNORECASE if ignore_case else 0)
