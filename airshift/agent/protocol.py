"""What crosses the wire between the CLI and an agent: routes, job requests, versions.

Why one module for both sides: the CLI and the agent are released together but installed
apart (the agent in the environment's requirements), so every shape they exchange is
written down once, validated on arrival, and versioned (``PROTOCOL``). A job request is
checked field by field before anything runs: an agent takes only the options it knows,
with the types it expects. The key that opens or seals secrets travels in the request
body and is never stored with the job (``JobRequest.stored``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from packaging.version import InvalidVersion, Version

import airshift
from airshift.archive import sealed
from airshift.errors import AirshiftError

PROTOCOL = 1
PREFIX = "/airshift"  # where the plugin mounts, on the web server (2.x) or API server (3.x)
API = "/api/v1"
CHECK_PATH = f"{PREFIX}{API}/check"
JOBS_PATH = f"{PREFIX}{API}/jobs"
HEADER = "X-Airshift-Agent"  # required on POST: a browser form cannot send it (CSRF)

Kind = Literal["export", "import"]
State = Literal["running", "succeeded", "failed", "lost"]
FINAL_STATES = ("succeeded", "failed", "lost")

# Per kind: option -> (accepted types, default). Only these reach the library.
_OPTIONS: dict[str, dict[str, tuple[tuple[type, ...], Any]]] = {
    "export": {
        "dag_ids": ((list,), []),
        "since": ((str, type(None)), None),
        "last_runs": ((int, type(None)), None),
        "include": ((list,), []),
        "exclude": ((list,), []),
        "secrets": ((str,), "seal"),
        "pause": ((bool,), False),
        "jobs": ((int,), 2),
    },
    "import": {
        "on_conflict": ((str,), "skip"),
        "unpause": ((str,), "source-state"),
        "secrets": ((str,), "import"),
        # set when the caller writes connections and variables elsewhere (Secrets Manager):
        # they are left out, with this reason
        "secrets_elsewhere": ((str, type(None)), None),
        "dry_run": ((bool,), False),
        "link_dag_versions": ((bool,), True),
        "online": ((bool,), False),
        "jobs": ((int,), 2),
        # an archive at an older schema is upgraded here, by the environment's own Airflow,
        # in a scratch schema of its database (else it must be at the environment's schema)
        "upgrade_in_target": ((bool,), False),
    },
}
_CHOICES = {
    ("export", "secrets"): ("seal", "skip"),
    ("import", "secrets"): ("import", "skip"),
    ("import", "on_conflict"): ("skip", "overwrite", "fail"),
    ("import", "unpause"): ("source-state", "keep-paused"),
}
_JOB_ID = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class JobRequest:
    """A job as the CLI asks for it. ``key`` is the public key an export seals secrets to,
    or the key an import opens them with (a private key or a Fernet archive key)."""

    id: str
    kind: Kind
    archive: str
    options: dict[str, Any] = field(default_factory=dict)
    key: str | None = field(default=None, repr=False)

    @classmethod
    def from_body(cls, body: Any) -> JobRequest:
        """The request in ``body`` (parsed JSON), or an AirshiftError saying what is wrong."""
        if not isinstance(body, dict):
            raise AirshiftError("The job request must be a JSON object.")
        job_id, kind, archive = body.get("id"), body.get("kind"), body.get("archive")
        if not isinstance(job_id, str) or not _JOB_ID.fullmatch(job_id):
            raise AirshiftError("The job id must be 32 lowercase hex digits.")
        if kind not in _OPTIONS:
            raise AirshiftError(f"Unknown job kind {kind!r}: export or import.")
        if not isinstance(archive, str) or not archive.strip():
            raise AirshiftError("The job needs an archive location (a URL such as s3://...).")
        key = body.get("key")
        if key is not None and not isinstance(key, str):
            raise AirshiftError("The key must be a string.")
        if kind == "export" and key is not None and not key.startswith(sealed.PUBLIC_PREFIX):
            raise AirshiftError(
                "An export is given only the public key that secrets are sealed to "
                f"({sealed.PUBLIC_PREFIX}...), never a key that opens them."
            )
        return cls(job_id, kind, archive.strip(), _options(kind, body.get("options")), key)

    def stored(self) -> dict[str, Any]:
        """What is kept with the job: everything but the key."""
        return {"id": self.id, "kind": self.kind, "archive": self.archive, "options": self.options}

    def body(self) -> dict[str, Any]:
        return self.stored() | ({"key": self.key} if self.key else {})


def _options(kind: str, given: Any) -> dict[str, Any]:
    given = given or {}
    if not isinstance(given, dict):
        raise AirshiftError("The job options must be a JSON object.")
    spec = _OPTIONS[kind]
    unknown = sorted(set(given) - set(spec))
    if unknown:
        raise AirshiftError(f"Unknown {kind} options: {', '.join(unknown)}.")
    out = {}
    for name, (types, default) in spec.items():
        value = given.get(name, default)
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise AirshiftError(f"The {kind} option {name!r} has the wrong type.")
        choices = _CHOICES.get((kind, name))
        if choices and value not in choices:
            raise AirshiftError(f"The {kind} option {name!r} takes {' or '.join(choices)}.")
        if isinstance(value, list) and not all(isinstance(v, str) for v in value):
            raise AirshiftError(f"The {kind} option {name!r} takes a list of strings.")
        out[name] = value
    return out


def agent_info(user: str | None, allowed: bool, reason: str | None, airflow_version: str) -> dict:
    """The check endpoint's answer: who the agent is, and whether the caller may use it."""
    return {
        "agent": "airshift",
        "version": airshift.__version__,
        "protocol": PROTOCOL,
        "airflow_version": airflow_version,
        "user": user,
        "allowed": allowed,
        "reason": reason,
    }


def install_hint(version: str = airshift.__version__) -> str:
    """How to install the agent that matches this CLI, in one sentence."""
    return (
        f"install it with the environment's requirements: add `airshift[agent]=={version}` to "
        "requirements.txt (Amazon MWAA: the environment's requirements file; no package index: "
        f"`airshift agent bundle --airflow VERSION --out plugins.zip`), then restart the "
        "web server / API server"
    )


def compatibility_problem(info: dict) -> str | None:
    """Why this CLI cannot drive the agent that answered ``info``, or None."""
    theirs = str(info.get("version", "0"))
    if info.get("protocol") != PROTOCOL:
        newer = isinstance(info.get("protocol"), int) and info["protocol"] > PROTOCOL
        if newer:
            return (
                f"The environment's airshift agent ({theirs}) speaks a newer protocol than this "
                f"airshift ({airshift.__version__}): upgrade airshift on this machine."
            )
        return (
            f"The environment's airshift agent ({theirs}) is older than this airshift "
            f"({airshift.__version__}): {install_hint()}."
        )
    try:
        older = Version(theirs) < Version(airshift.__version__)
    except InvalidVersion:
        older = True
    if older:
        return (
            f"The environment's airshift agent ({theirs}) is older than this airshift "
            f"({airshift.__version__}): {install_hint()}."
        )
    return None
