"""``env plan``: the CreateEnvironment request for a new MWAA environment, made from the old one.

Why a plan and not a clone: GetEnvironment's output is not a CreateEnvironment request
(it holds the log group ARNs, the service role, the queue, the status), a few settings
can only be set at creation (KMS key, subnets, endpoint management), configuration
options change meaning across versions, and two environments must not share a DAG folder
or both schedule the same DAGs. So every setting is carried on purpose, each decision is
a ``Note``, and anything the target would not accept refuses the whole plan with its
reason before anything is created. The new environment's files go to a prefix of its own
(``NEW_NAME/`` in the same bucket, by default); ``env resources`` writes them there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from packaging.version import Version

from airshift.env import model, offer, policy
from airshift.env.aws import bucket_arn, bucket_name, kms_key_arn
from airshift.env.configuration import Outcome, TranslatedOptions, translate_options
from airshift.env.secretsmanager import SecretsManagerTarget
from airshift.env.source import Environment
from airshift.errors import AirshiftError

RESOURCE_PATHS = ("DagS3Path", "RequirementsS3Path", "PluginsS3Path", "StartupScriptS3Path")
# Carried as they are: GetEnvironment and CreateEnvironment name them alike.
_COPIED = (
    "EnvironmentClass",
    "MaxWorkers",
    "MinWorkers",
    "Schedulers",
    "MinWebservers",
    "MaxWebservers",
    "WebserverAccessMode",
    "EndpointManagement",
    "KmsKey",
    "WeeklyMaintenanceWindowStart",
)
LOG_MODULES = ("DagProcessingLogs", "SchedulerLogs", "TaskLogs", "WebserverLogs", "WorkerLogs")


@dataclass(frozen=True)
class PlanOptions:
    """What the user chooses; everything else comes from the source environment."""

    airflow_version: str
    name: str
    bucket: str | None = None  # name or ARN; default: the source's bucket
    prefix: str | None = None  # default: NAME/ in the source's bucket, nothing in another
    execution_role_arn: str | None = None  # default: the source's role
    secrets_to: SecretsManagerTarget | None = None
    archive: str | None = None  # s3://... of an airshift archive the new environment reads
    check_role: bool = True


class Level(str, Enum):
    INFO = "info"
    WARNING = "warning"


@dataclass(frozen=True)
class Note:
    level: Level
    setting: str
    message: str


@dataclass
class Plan:
    """The request, how each setting got there, and what the execution role needs."""

    source: Environment
    request: dict[str, Any]
    worker_replacement_strategy: str | None
    options: TranslatedOptions
    notes: list[Note] = field(default_factory=list)
    needs: list[policy.Need] = field(default_factory=list)
    role_check: policy.RoleCheck | None = None

    def policy_document(self) -> dict[str, Any]:
        return policy.policy_document(self.needs)

    def as_dict(self) -> dict[str, Any]:
        """For ``--json``: everything but configuration values (they can hold passwords)."""
        request = dict(self.request)
        if "AirflowConfigurationOptions" in request:
            request["AirflowConfigurationOptions"] = sorted(request["AirflowConfigurationOptions"])
        check = self.role_check
        return {
            "source": {
                "name": self.source.name,
                "version": self.source.version,
                "origin": self.source.origin,
            },
            "request": request,
            "worker_replacement_strategy": self.worker_replacement_strategy,
            "options": [
                {
                    "key": o.key,
                    "outcome": o.outcome.value,
                    "new_key": o.new_key,
                    "message": o.message,
                }
                for o in self.options.outcomes
            ],
            "changed_defaults": self.options.changed_defaults,
            "notes": [
                {"level": n.level.value, "setting": n.setting, "message": n.message}
                for n in self.notes
            ],
            "policy": self.policy_document(),
            "role_check": None
            if check is None
            else {
                "role": check.role_arn,
                "error": check.error,
                "missing": [vars(m) for m in check.missing],
                "limits": check.limits,
            },
        }


def make_plan(
    source: Environment,
    options: PlanOptions,
    facts: dict | None = None,
    iam: Any | None = None,
    log: Callable[[str], None] = lambda message: None,
) -> Plan:
    """The plan for a new environment on ``options.airflow_version``; refuses with every reason.

    ``facts``: what the target Airflow says about its configuration (loaded from its real
    release when not given).
    """
    version = options.airflow_version
    refusal = offer.version_refusal(version)
    if refusal:
        raise AirshiftError(refusal)
    if Version(version) < Version(source.version):
        raise AirshiftError(
            f"Airflow {version} is older than the source's {source.version}; "
            "airshift moves environments forward only."
        )
    if facts is None:
        log(
            f"asking Airflow {version} itself about its configuration (installed once, then cached)"
        )
        facts = target_facts(version)
    arn = source.arn
    plan = Plan(source, {}, None, TranslatedOptions())
    refusals: list[str] = []
    plan.request = _request(plan, options, refusals)
    plan.options = translate_options(
        source.data.get("AirflowConfigurationOptions") or {}, source.version, version, facts
    )
    _option_notes(plan, refusals)
    configuration = dict(plan.options.options)
    if options.secrets_to:
        _secrets_backend(configuration, options.secrets_to, plan.notes)
    if configuration:
        plan.request["AirflowConfigurationOptions"] = configuration
    strategy = (source.data.get("LastUpdate") or {}).get("WorkerReplacementStrategy")
    plan.worker_replacement_strategy = strategy
    if strategy:
        plan.notes.append(
            Note(
                Level.INFO,
                "WorkerReplacementStrategy",
                f"{strategy} is an update setting: kept in the CloudFormation and "
                "Terraform outputs; CreateEnvironment has no such parameter.",
            )
        )
    refusals += offer.class_refusals(plan.request)
    refusals += model.problems("CreateEnvironment", plan.request)
    if refusals:
        raise AirshiftError(
            f"airshift cannot plan {options.name} on Airflow {version}:\n- " + "\n- ".join(refusals)
        )
    plan.needs = policy.needs(
        policy.EnvironmentFacts(
            options.name,
            arn.partition,
            arn.region,
            arn.account,
            plan.request["SourceBucketArn"],
            plan.request.get("KmsKey"),
            options.archive,
            options.secrets_to,
        )
    )
    if options.check_role:
        plan.role_check = policy.check_role(plan.request["ExecutionRoleArn"], plan.needs, iam)
        _role_notes(plan)
    _version_notes(plan, source, version)
    plan.notes.append(
        Note(
            Level.INFO,
            "region",
            f"The source runs in {arn.region}, where its subnets are: create the new "
            f"environment there (`airshift env create PLAN --region {arn.region}`).",
        )
    )
    return plan


def target_facts(version: str) -> dict:
    """What Airflow `version` with the providers MWAA installs says about its configuration."""
    from airshift import airflow_env
    from airshift.code.target_facts import load_target_facts

    providers = offer.MWAA_PROVIDERS[Version(version).major]
    return load_target_facts(airflow_env.ensure(version, extras=list(providers)))


def _request(plan: Plan, options: PlanOptions, refusals: list[str]) -> dict[str, Any]:
    source, notes = plan.source, plan.notes
    data = source.data
    if options.name == source.name:
        refusals.append(
            f"{options.name} is the source's own name; the new environment needs another."
        )
    request: dict[str, Any] = {
        "Name": options.name,
        "AirflowVersion": options.airflow_version,
        "ExecutionRoleArn": options.execution_role_arn or data.get("ExecutionRoleArn"),
    }
    request |= {key: data[key] for key in _COPIED if data.get(key) is not None}
    if "KmsKey" in request:
        arn = source.arn
        request["KmsKey"] = kms_key_arn(request["KmsKey"], arn.partition, arn.region, arn.account)
    network = data.get("NetworkConfiguration") or {}
    request["NetworkConfiguration"] = {
        key: list(network[key]) for key in ("SubnetIds", "SecurityGroupIds") if network.get(key)
    }
    logging = data.get("LoggingConfiguration") or {}
    modules = {
        module: {"Enabled": logging[module]["Enabled"], "LogLevel": logging[module]["LogLevel"]}
        for module in LOG_MODULES
        if module in logging and "Enabled" in logging[module] and "LogLevel" in logging[module]
    }
    if modules:
        request["LoggingConfiguration"] = modules
    request |= _paths(plan, options, refusals)
    tags = {k: v for k, v in source.tags.items() if not k.startswith("aws:")}
    if len(tags) < len(source.tags):
        notes.append(Note(Level.INFO, "Tags", "aws:* tags belong to AWS and are not carried."))
    if tags:
        request["Tags"] = tags
    _create_only_notes(request, notes)
    return request


def _paths(plan: Plan, options: PlanOptions, refusals: list[str]) -> dict[str, Any]:
    """The new environment's bucket and paths: the source's, under a prefix of its own."""
    source = plan.source
    bucket = bucket_name(options.bucket) if options.bucket else source.bucket
    same_bucket = bucket == source.bucket
    prefix = (
        options.prefix
        if options.prefix is not None
        else (f"{options.name}/" if same_bucket else "")
    )
    prefix = prefix.lstrip("/")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    paths: dict[str, Any] = {"SourceBucketArn": bucket_arn(bucket, source.arn.partition)}
    for setting in RESOURCE_PATHS:
        old = source.path(setting)
        if old is None:
            continue
        paths[setting] = prefix + old.lstrip("/")
        if same_bucket and paths[setting].rstrip("/") == old.rstrip("/"):
            refusals.append(
                f"{setting} would be the source's own s3://{bucket}/{old}: both environments "
                "would read the same files (and schedule the same DAGs). Choose --prefix or --bucket."
            )
    moved = [s for s in RESOURCE_PATHS[1:] if s in paths]
    if moved:
        plan.notes.append(
            Note(
                Level.INFO,
                "resources",
                f"{', '.join(moved)} point at s3://{bucket}/{prefix}: run `airshift env "
                "resources SOURCE PLAN --write` to put the upgraded files there and record "
                "their object versions before `env create`.",
            )
        )
    return paths


def _create_only_notes(request: dict[str, Any], notes: list[Note]) -> None:
    if request.get("KmsKey"):
        notes.append(
            Note(
                Level.INFO,
                "KmsKey",
                "Carried: a customer-managed key can only be chosen at creation.",
            )
        )
    if request.get("EndpointManagement") == "CUSTOMER":
        notes.append(
            Note(
                Level.WARNING,
                "EndpointManagement",
                "CUSTOMER: create the new environment's VPC endpoints yourself once it "
                "exists (GetEnvironment lists its endpoint services).",
            )
        )


def _option_notes(plan: Plan, refusals: list[str]) -> None:
    for o in plan.options.outcomes:
        setting = f"AirflowConfigurationOptions.{o.key}"
        if o.outcome is Outcome.REFUSED:
            refusals.append(f"{o.key}: {o.message}")
        elif o.outcome is Outcome.DROPPED:
            plan.notes.append(Note(Level.WARNING, setting, f"dropped: {o.message}"))
        elif o.outcome is Outcome.RENAMED:
            plan.notes.append(Note(Level.INFO, setting, f"now {o.new_key}: {o.message}"))
        elif o.message:
            plan.notes.append(Note(Level.INFO, setting, o.message))
    for message in plan.options.changed_defaults:
        plan.notes.append(Note(Level.INFO, "default", message))


def _secrets_backend(
    configuration: dict[str, str], target: SecretsManagerTarget, notes: list[Note]
) -> None:
    options = target.backend_options()
    replaced = [
        key for key in options if key in configuration and configuration[key] != options[key]
    ]
    if replaced:
        notes.append(
            Note(Level.WARNING, "secrets", f"{', '.join(replaced)} replaced by Secrets Manager's.")
        )
    configuration |= options
    notes.append(
        Note(
            Level.INFO,
            "secrets",
            f"Connections under {target.connection_name('')}, variables under "
            f"{target.variable_name('')} in Secrets Manager.",
        )
    )


def _role_notes(plan: Plan) -> None:
    check = plan.role_check
    assert check is not None
    if check.error:
        plan.notes.append(Note(Level.WARNING, "ExecutionRoleArn", f"not checked: {check.error}."))
    elif check.missing:
        sids = sorted({m.sid for m in check.missing})
        plan.notes.append(
            Note(
                Level.WARNING,
                "ExecutionRoleArn",
                f"{check.role_arn} lacks {len(check.missing)} permission(s) the new "
                f"environment needs ({', '.join(sids)}); --policy-out writes the policy "
                f"it needs. {check.limits}",
            )
        )


def _version_notes(plan: Plan, source: Environment, version: str) -> None:
    old, new = Version(source.version), Version(version)
    if old.major < new.major and old >= offer.IN_PLACE_TO_3_FROM:
        plan.notes.append(
            Note(
                Level.INFO,
                "AirflowVersion",
                f"MWAA can also upgrade {source.name} in place from {source.version}; "
                "a new environment keeps the old one running until the cutover.",
            )
        )
