"""The Airflow plugin that serves the agent (entry point ``airflow.plugins: airshift``).

Why the apps are built lazily: Airflow loads every plugin in every process (scheduler,
workers, DAG processor), but only the web server (2.x) reads ``flask_blueprints`` and
only the API server (3.x) reads ``fastapi_apps``. Building them on first read keeps the
other processes from importing the web framework and the auth code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airflow import __version__ as airflow_version
from airflow.plugins_manager import AirflowPlugin

from airshift.agent.protocol import PREFIX

_AIRFLOW_MAJOR = int(airflow_version.split(".")[0])


class _Built:
    """A class attribute computed on first access (from the class or an instance)."""

    def __init__(self, build: Callable[[], list[Any]]) -> None:
        self._build, self._value = build, None

    def __get__(self, obj: object, owner: type) -> list[Any]:
        if self._value is None:
            self._value = self._build()
        return self._value


def _fastapi_apps() -> list[dict[str, Any]]:
    from airshift.agent.airflow3 import create_app

    return [{"app": create_app(), "url_prefix": PREFIX, "name": "airshift agent"}]


def _flask_blueprints() -> list[Any]:
    from airshift.agent.airflow2 import blueprint

    return [blueprint()]


class AirshiftAgentPlugin(AirflowPlugin):
    """Export and import jobs for ``airshift`` on the user's machine (admins only)."""

    name = "airshift_agent"
    if _AIRFLOW_MAJOR >= 3:
        fastapi_apps = _Built(_fastapi_apps)
    else:
        flask_blueprints = _Built(_flask_blueprints)
