"""Log names per Airflow version, and the safety checks on them (no Airflow needed)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from airshift.errors import AirshiftError
from airshift.logs.index import TaskTry
from airshift.logs.naming import LAYOUTS, MalformedName, Naming, template_from_config

from .conftest import CUSTOM_TEMPLATE

WHEN = datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def _try(**kw) -> TaskTry:
    base = dict(
        dag_id="d",
        task_id="t",
        run_id="scheduled__2024-01-02T03:04:05+00:00",
        map_index=-1,
        try_number=2,
        state="failed",
        logical_date=WHEN,
        start_date=WHEN,
    )
    return TaskTry(**(base | kw))


@pytest.mark.parametrize(
    ("layout", "item", "expected"),
    [
        ("airflow-1.10", _try(), "d/t/2024-01-02T03:04:05+00:00/2.log"),
        (
            "airflow-2",
            _try(map_index=3),
            "dag_id=d/run_id=scheduled__2024-01-02T03:04:05+00:00/task_id=t/map_index=3/attempt=2.log",
        ),
        (
            "airflow-3",
            _try(),
            "dag_id=d/run_id=scheduled__2024-01-02T03:04:05+00:00/task_id=t/attempt=2.log",
        ),
    ],
)
def test_default_layouts(layout: str, item: TaskTry, expected: str) -> None:
    assert Naming(airflow_major=3, template=LAYOUTS[layout]).relpath(item) == expected


def test_the_recorded_template_renders_per_version() -> None:
    item = _try(log_template=CUSTOM_TEMPLATE)
    run = "scheduled__2024-01-02T03:04:05+00:00"
    assert Naming(airflow_major=2).relpath(item) == f"d/2024-01-02/{run}/t/2.log"
    assert Naming(airflow_major=3).relpath(item) == f"d/{run}/t/2.log"  # no ds in Airflow 3


def test_str_format_templates_use_each_versions_date_key() -> None:
    template = "{dag_id}/{task_id}/{execution_date}/{try_number}.log"
    assert Naming(airflow_major=2, template=template).relpath(_try()) == (
        "d/t/2024-01-02T03:04:05+00:00/2.log"
    )
    with pytest.raises(MalformedName):  # Airflow 3 has no execution_date either
        Naming(airflow_major=3, template=template).relpath(_try())


def test_runs_without_a_recorded_template_use_the_fallback() -> None:
    naming = Naming(airflow_major=2, fallback="{{ ti.task_id }}/{{ try_number }}.log")
    assert naming.relpath(_try()) == "t/2.log"


@pytest.mark.parametrize(
    "template", ["../{{ ti.dag_id }}.log", "/abs/{{ ti.dag_id }}.log", "{{ ti.nope }}", "{{ ("]
)
def test_unsafe_or_broken_names_are_malformed(template: str) -> None:
    with pytest.raises(MalformedName):
        Naming(airflow_major=3, template=template).relpath(_try())


def test_template_from_airflow_cfg(tmp_path: Path) -> None:
    cfg = tmp_path / "airflow.cfg"
    cfg.write_text(
        "[logging]\nlog_filename_template = {%% if ti.map_index >= 0 %%}m/{%% endif %%}"
        "{{ ti.task_id }}.log\n"
    )
    assert template_from_config(str(cfg)) == (
        "{% if ti.map_index >= 0 %}m/{% endif %}{{ ti.task_id }}.log"
    )
    (tmp_path / "empty.cfg").write_text("[core]\n")
    with pytest.raises(AirshiftError):
        template_from_config(str(tmp_path / "empty.cfg"))


def test_only_names_shared_on_one_side_collide(tmp_path: Path) -> None:
    """Same relative names on both sides are normal; two tries on one name are not."""
    from airshift.logs import CopyOptions, copy_logs
    from airshift.logs.stores import FsspecStore

    class SameNames(FsspecStore):
        def name_for(self, relpath: str) -> str:
            return relpath

    tries = [_try(task_id="a"), _try(task_id="b", map_index=0), _try(task_id="b", map_index=1)]
    layout = Naming(airflow_major=3, template=LAYOUTS["airflow-1.10"])
    options = CopyOptions(source_naming=layout, target_naming=layout, dry_run=True)
    report = copy_logs(tries, SameNames(str(tmp_path)), SameNames(str(tmp_path)), options)
    assert report.counts == {"missing": 1, "name-collision": 2}
