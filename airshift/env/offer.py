"""What Amazon MWAA offers: Airflow versions, environment classes, options it sets itself.

Why one module of hand-kept facts: the MWAA API describes none of this in a machine-readable
way (botocore's ``AirflowVersion`` documentation lags behind, and CloudFormation checks the
version only by pattern), so a plan must know it to refuse a version or a size before the
service does, 30 minutes into a failed create. Each fact names its source; when MWAA adds a
version, ``MWAA_VERSIONS`` is the one line to change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from packaging.version import Version

# botocore's CreateEnvironment documentation (2.7.2 ... 3.0.6) and the images in
# aws/amazon-mwaa-docker-images (images/airflow/2.9.2 ... 3.3.1). 2.11.2 has an image but is
# not offered as an environment version.
MWAA_VERSIONS: tuple[str, ...] = (
    "2.7.2",
    "2.8.1",
    "2.9.2",
    "2.10.1",
    "2.10.3",
    "2.11.0",
    "3.0.6",
    "3.2.1",
    "3.3.1",
)

# MWAA's own in-place upgrade (UpdateEnvironment --airflow-version) reaches 3.x from 2.11 only.
IN_PLACE_TO_3_FROM = Version("2.11.0")


@dataclass(frozen=True)
class EnvironmentClass:
    """Limits of one environment class (MWAA user guide, "environment class")."""

    name: str
    schedulers: tuple[int, int]
    webservers: tuple[int, int]
    max_workers: int | None  # None: only the account's quota (25 by default) limits it


_SIZED = ("mw1.small", "mw1.medium", "mw1.large", "mw1.xlarge", "mw1.2xlarge")
ENVIRONMENT_CLASSES: dict[str, EnvironmentClass] = {
    # mw1.micro runs one combined scheduler/worker and one web server and does not scale.
    "mw1.micro": EnvironmentClass("mw1.micro", (1, 1), (1, 1), 1),
    **{name: EnvironmentClass(name, (2, 5), (2, 5), None) for name in _SIZED},
}

# Options the MWAA images set themselves and a customer value cannot override
# (``get_essential_airflow_config`` in images/airflow/<version>/python/mwaa/config/airflow.py):
# carrying them into a plan changes nothing on the environment, so the plan drops them.
_MANAGED_ALWAYS = frozenset(
    {
        "core.executor",
        "core.fernet_key",
        "core.load_examples",
        "database.sql_alchemy_conn",
        "celery.broker_url",
        "celery.result_backend",
        "celery.celery_config_options",
        "celery.worker_enable_remote_control",
        "operators.default_queue",
        "logging.logging_config_class",
        "logging.colored_console_log",
        "scheduler.standalone_dag_processor",
    }
)
MWAA_MANAGED_OPTIONS: dict[int, frozenset[str]] = {
    2: _MANAGED_ALWAYS
    | {"webserver.config_file", "webserver.cookie_secure", "webserver.secret_key"},
    3: _MANAGED_ALWAYS
    | {
        "core.auth_manager",
        "core.execution_api_server_url",
        "fab.config_file",
        "api.secret_key",
        "api_auth.jwt_secret",
        "api_auth.jwt_algorithm",
        "execution_api.jwt_expiration_time",
        "triggerer.queues_enabled",
    },
}

# Providers every MWAA image installs whose configuration sections MWAA users set
# (``celery.worker_autoscale``, ``fab.*`` on 3.x): the target's configuration facts are read
# from a runtime that has them, or their options would look unknown.
MWAA_PROVIDERS: dict[int, tuple[str, ...]] = {
    2: ("apache-airflow-providers-amazon", "apache-airflow-providers-celery"),
    3: (
        "apache-airflow-providers-amazon",
        "apache-airflow-providers-celery",
        "apache-airflow-providers-fab",
    ),
}

# MWAA's default ``secrets.backend_kwargs`` (``_get_opinionated_airflow_secrets_config``): the
# execution role's ``aws_default`` is never looked up in a secrets backend.
MWAA_CONNECTIONS_LOOKUP_PATTERN = "^(?!aws_default$).*$"


def version_refusal(version: str) -> str | None:
    """Why MWAA cannot run ``version``, or None when it offers it."""
    if version in MWAA_VERSIONS:
        return None
    return f"Amazon MWAA does not offer Airflow {version}; it offers {', '.join(MWAA_VERSIONS)}."


def class_refusals(request: Mapping[str, Any]) -> list[str]:
    """What the request's environment class does not accept among its sizes."""
    name = request.get("EnvironmentClass", "mw1.small")
    spec = ENVIRONMENT_CLASSES.get(name)
    if spec is None:
        return [
            f"EnvironmentClass {name!r} is not one MWAA offers ({', '.join(ENVIRONMENT_CLASSES)})."
        ]
    limits = {
        "Schedulers": spec.schedulers,
        "MinWebservers": spec.webservers,
        "MaxWebservers": spec.webservers,
        "MinWorkers": (1, spec.max_workers),
        "MaxWorkers": (1, spec.max_workers),
    }
    problems = []
    for setting, (low, high) in limits.items():
        count = request.get(setting)
        if count is None or (low <= count and (high is None or count <= high)):
            continue
        accepts = (
            f"exactly {low}" if low == high else f"{low} to {high}" if high else f"{low} or more"
        )
        problems.append(f"{setting} {count}: {name} accepts {accepts}.")
    if request.get("MinWorkers", 1) > request.get("MaxWorkers", request.get("MinWorkers", 1)):
        problems.append("MinWorkers is larger than MaxWorkers.")
    return problems


def managed_option(key: str, version: str) -> bool:
    """Whether MWAA sets the dotted option ``key`` itself on ``version``."""
    return key in MWAA_MANAGED_OPTIONS[Version(version).major]
