"""Log names: render the filename template of a try the way a given Airflow version does.

Why emulate the version: the target Airflow finds a log by rendering the run's template
with *its own* context. Airflow 1.10/2.x render Jinja templates with the full task context
(``ds``, ``execution_date``, ...) and ``str.format`` templates with ``execution_date``;
Airflow 3 offers only ``ti``, ``ts`` and ``try_number`` to Jinja and ``logical_date`` to
``str.format``. Rendering the target name with the source's rules is exactly how naive
copies break when the naming changes between versions.
"""

from __future__ import annotations

import configparser
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jinja2 import TemplateError
from jinja2.sandbox import SandboxedEnvironment

from airshift.errors import AirshiftError
from airshift.logs.index import TaskTry

_DEFAULT_2X = (
    "dag_id={{ ti.dag_id }}/run_id={{ ti.run_id }}/task_id={{ ti.task_id }}/"
    "{% if ti.map_index >= 0 %}map_index={{ ti.map_index }}/{% endif %}"
    "attempt={{ try_number }}.log"
)
LAYOUTS: dict[str, str] = {
    # Default before 2.3 (also what Airflow seeds as the first log_template row).
    "airflow-1.10": "{{ ti.dag_id }}/{{ ti.task_id }}/{{ ts }}/{{ try_number }}.log",
    "airflow-2": _DEFAULT_2X,
    "airflow-3": _DEFAULT_2X.replace("{{ try_number }}", "{{ try_number|default(ti.try_number) }}"),
}
RECORDED = "recorded"

_jinja = SandboxedEnvironment(autoescape=False)


class MalformedName(ValueError):
    """A template that cannot be rendered, or renders to an unsafe or empty path."""


def resolve_template(choice: str) -> str:
    """A layout name (airflow-1.10, airflow-2, airflow-3) or a literal template."""
    return LAYOUTS.get(choice, choice)


@dataclass(frozen=True)
class Naming:
    """How one side names logs: which template, rendered by which Airflow major version.

    ``template`` None means each run's recorded template (``log_template`` row); runs
    without one fall back to ``fallback`` (the config's template, or the version default).
    """

    airflow_major: int
    template: str | None = None
    fallback: str = LAYOUTS["airflow-1.10"]

    def relpath(self, item: TaskTry) -> str:
        template = self.template or item.log_template or self.fallback
        try:
            if "{{" in template:  # Airflow's own test for Jinja mode
                name = _jinja.from_string(template).render(self._jinja_context(item))
            else:
                name = template.format(**self._format_context(item))
        except (TemplateError, KeyError, IndexError, ValueError, AttributeError) as exc:
            raise MalformedName(f"template {template!r} cannot be rendered: {exc}") from exc
        return check_relpath(name)

    def _jinja_context(self, item: TaskTry) -> dict[str, Any]:
        date = item.logical_date
        ts = date.isoformat() if date else ""
        context: dict[str, Any] = {"ti": item, "ts": ts, "try_number": item.try_number}
        if self.airflow_major >= 3 or date is None:
            return context
        return context | {
            "task_instance": item,
            "run_id": item.run_id,
            "ds": date.strftime("%Y-%m-%d"),
            "ds_nodash": date.strftime("%Y%m%d"),
            "ts_nodash": date.strftime("%Y%m%dT%H%M%S"),
            "ts_nodash_with_tz": date.strftime("%Y%m%dT%H%M%S%z"),
            "logical_date": date,
            "execution_date": date,
            "data_interval_start": item.data_interval_start,
            "data_interval_end": item.data_interval_end,
        }

    def _format_context(self, item: TaskTry) -> dict[str, Any]:
        iso = item.logical_date.isoformat() if item.logical_date else ""
        date_key = "logical_date" if self.airflow_major >= 3 else "execution_date"
        return {
            "dag_id": item.dag_id,
            "task_id": item.task_id,
            "run_id": item.run_id,
            "data_interval_start": _iso(item.data_interval_start),
            "data_interval_end": _iso(item.data_interval_end),
            date_key: iso,
            "try_number": item.try_number,
        }


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value else ""


def check_relpath(name: str) -> str:
    """Refuse names that would escape the log folder; collapse empty segments as the
    reader's ``Path(base, name)`` does (a template variable a version lacks renders empty).
    """
    parts = [p for p in name.split("/") if p]
    if name.startswith("/") or not parts or any(p in (".", "..") for p in parts):
        raise MalformedName(f"unsafe or empty log name {name!r}")
    if any(c in name for c in "\0\n\r"):
        raise MalformedName(f"control character in log name {name!r}")
    return "/".join(parts)


def template_from_config(path: str) -> str:
    """The ``log_filename_template`` an ``airflow.cfg`` sets ([logging], or [core] in 1.10)."""
    parser = configparser.ConfigParser()  # interpolation turns the file's %% into %
    try:
        with open(path) as fh:
            parser.read_file(fh)
        for section in ("logging", "core"):
            if parser.has_option(section, "log_filename_template"):
                return parser.get(section, "log_filename_template")
    except (OSError, configparser.Error) as exc:
        raise AirshiftError(f"Cannot read the Airflow config {path}: {exc}") from exc
    raise AirshiftError(f"{path} sets no log_filename_template in [logging] or [core].")
