"""The CLI's side of the wire: one Airflow environment's agent, over HTTP(S).

Why the standard library (``urllib``): the CLI needs a handful of JSON requests with a
header or a cookie, which does not earn a dependency. Every failure becomes one clear
paragraph: the environment is unreachable, refused the credentials, has no agent (an
Airflow 3 UI answers unknown paths with its HTML page, so "no agent" is anything that is
not the agent's JSON), or has an agent older than this CLI.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from airshift.agent.protocol import CHECK_PATH, HEADER, JOBS_PATH, JobRequest, install_hint
from airshift.errors import AirshiftError


class Unreachable(AirshiftError):
    """The environment did not answer at all (network, DNS, TLS): a job there runs on."""


@dataclass(frozen=True)
class Environment:
    """An Airflow environment's address and the credentials to reach it."""

    base_url: str  # scheme://host[:port][/path], no trailing slash
    label: str  # what messages call it (never with a secret)
    headers: dict[str, str] = field(default_factory=dict, repr=False)


class AgentClient:
    def __init__(self, env: Environment, timeout: float = 30) -> None:
        self.env, self.timeout = env, timeout

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, Any]:
        """(status, parsed JSON or None) of one request; unreachable -> AirshiftError."""
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Accept": "application/json", **self.env.headers}
        if data is not None:
            headers |= {"Content-Type": "application/json", HEADER: "1"}
        req = urllib.request.Request(
            self.env.base_url + path, data=data, headers=headers, method=method
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return resp.status, _json(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, _json(exc.read())
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise AirshiftError(
                f"Cannot reach the Airflow environment {self.env.label}: {reason}."
            ) from None

    def check(self) -> dict:
        """The agent's answer to check (version, caller allowed), or why there is none."""
        status, body = self.request("GET", CHECK_PATH)
        if status in (401, 403) and not _is_agent(body):
            raise AirshiftError(
                f"{self.env.label} refused the credentials ({status}: {_message(body)}). Pass an "
                "Airflow token (--airflow-token or AIRSHIFT_AIRFLOW_TOKEN) or --airflow-user and "
                "--airflow-password (for mwaa:// environments, AWS credentials allowed to call "
                "airflow:CreateWebLoginToken)."
            )
        if status != 200 or not _is_agent(body):
            raise AirshiftError(
                f"No airshift agent answers at {self.env.label}{CHECK_PATH} (HTTP {status}). To "
                f"{install_hint()}."
            )
        return body

    def start(self, job: JobRequest) -> tuple[int, dict]:
        return self._expect("POST", JOBS_PATH, job.body(), (200, 202, 409))

    def status(self, job_id: str) -> dict:
        return self._expect("GET", f"{JOBS_PATH}/{job_id}", None, (200,))[1]["job"]

    def recent(self) -> list[dict]:
        return self._expect("GET", JOBS_PATH, None, (200,))[1]["jobs"]

    def _expect(
        self, method: str, path: str, body: dict | None, ok: tuple[int, ...]
    ) -> tuple[int, dict]:
        status, answer = self.request(method, path, body)
        if status in ok and isinstance(answer, dict):
            return status, answer
        if status == 403:
            raise AirshiftError(f"{self.env.label} refused: {_message(answer)} Nothing was run.")
        raise AirshiftError(
            f"The airshift agent at {self.env.label} answered {status}: {_message(answer)}"
        )


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _is_agent(body: Any) -> bool:
    return isinstance(body, dict) and body.get("agent") == "airshift"


def _message(body: Any) -> str:
    if isinstance(body, dict):
        return str(body.get("error") or body.get("detail") or body)
    return "(no JSON answer)"
