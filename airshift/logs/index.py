"""The index of task tries: which logs should exist, according to the metadata.

Why the metadata and not a listing of the log store: a listing cannot tell a try's state,
its run's date or which filename template the run used, and it silently misses logs that
are gone. The metadata knows every try, so a missing log is reported instead of ignored.

Version awareness (all by reflection, no schema is assumed):
- the run's date is ``dag_run.execution_date`` in 1.10/2.x and ``logical_date`` in 3.x
  (which may be NULL there: Airflow then uses ``run_after``);
- ``task_instance`` holds the latest try; earlier tries come from ``task_instance_history``
  (2.10+) or, before it, are inferred: tries 1..N-1 exist, and ``task_fail`` rows, in
  start order, say which of them failed;
- 3.4+ keeps every try as a ``task_instance`` row (``working_set`` true for the current one,
  NULL for archived attempts; no ``task_instance_history``) and calls the map index
  ``region_index``;
- ``task_instance.run_id`` exists since 2.2 (before, runs are matched by execution date),
  ``map_index`` since 2.3;
- ``dag_run.log_template_id`` names the ``log_template`` row (2.3+) that rendered the run's
  log filenames; NULL means the first row, exactly as Airflow resolves it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from airshift.errors import AirshiftError
from airshift.logs.tables import MetadataTables, Row


@dataclass(frozen=True)
class TaskTry:
    """One try of one task instance, with what is needed to name its log."""

    dag_id: str
    task_id: str
    run_id: str
    map_index: int
    try_number: int
    state: str | None
    logical_date: datetime | None
    start_date: datetime | None
    data_interval_start: datetime | None = None
    data_interval_end: datetime | None = None
    log_template: str | None = None
    # False: no metadata row names this try; it is implied by a later try's number (a try
    # requeued by its pool, say, leaves its log and no history row). Its log is copied when
    # it exists; when it does not, nothing is missing.
    recorded: bool = True

    @property
    def execution_date(self) -> datetime | None:
        """Airflow 2's name for ``logical_date``, which log templates still use."""
        return self.logical_date

    def label(self) -> str:
        """A short human name for reports."""
        mapped = f"[{self.map_index}]" if self.map_index >= 0 else ""
        return f"{self.dag_id}.{self.task_id}{mapped} {self.run_id} try {self.try_number}"


@dataclass(frozen=True)
class IndexFilter:
    """Which tries to copy. Empty fields select everything."""

    states: frozenset[str] = frozenset()
    dag_ids: frozenset[str] = frozenset()
    since: datetime | None = None
    last_runs: int | None = None

    @classmethod
    def build(
        cls,
        states: Iterable[str] = (),
        dag_ids: Iterable[str] = (),
        since: datetime | None = None,
        days: int | None = None,
        last_runs: int | None = None,
    ) -> IndexFilter:
        """Combine the CLI's --since and --days (the later bound wins)."""
        bounds = [b for b in (utc(since),) if b is not None]
        if days is not None:
            bounds.append(datetime.now(timezone.utc) - timedelta(days=days))
        return cls(
            states=frozenset(s.lower() for s in states),
            dag_ids=frozenset(dag_ids),
            since=max(bounds) if bounds else None,
            last_runs=last_runs,
        )


@dataclass(frozen=True)
class _Run:
    dag_id: str
    run_id: str
    logical_date: datetime | None
    data_interval_start: datetime | None
    data_interval_end: datetime | None
    log_template: str | None

    def sort_key(self) -> datetime:
        return self.logical_date or datetime.min.replace(tzinfo=timezone.utc)


@dataclass
class _Schema:
    """What the reflected tables offer, decided once."""

    ti: set[str]
    dag_run: set[str]
    history: set[str] | None
    task_fail: set[str] | None
    log_template: set[str] | None
    date_column: str = field(init=False)
    # 3.4+: earlier tries are task_instance rows too (archived attempts).
    attempts: bool = field(init=False)

    def __post_init__(self) -> None:
        self.date_column = "logical_date" if "logical_date" in self.dag_run else "execution_date"
        self.attempts = "working_set" in self.ti


def utc(value: Any) -> datetime | None:
    """Datetimes from any backend as aware UTC (SQLite and MySQL hand back naive UTC)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


def _present(columns: set[str], wanted: Iterable[str]) -> list[str]:
    return [c for c in wanted if c in columns]


def _schema(tables: MetadataTables) -> _Schema:
    ti, dag_run = tables.columns("task_instance"), tables.columns("dag_run")
    if ti is None or dag_run is None:
        raise AirshiftError(
            "The metadata has no task_instance or dag_run table: not an Airflow metadata store."
        )
    return _Schema(
        ti=ti,
        dag_run=dag_run,
        history=tables.columns("task_instance_history"),
        task_fail=tables.columns("task_fail"),
        log_template=tables.columns("log_template"),
    )


def _templates(tables: MetadataTables, schema: _Schema) -> tuple[dict[int, str], str | None]:
    """Log templates by id, and the one Airflow uses for runs without an id (the first)."""
    if schema.log_template is None:
        return {}, None
    by_id = {int(r["id"]): r["filename"] for r in tables.rows("log_template", ["id", "filename"])}
    return by_id, by_id[min(by_id)] if by_id else None


def _runs(tables: MetadataTables, schema: _Schema) -> list[_Run]:
    templates, first = _templates(tables, schema)
    date = schema.date_column
    wanted = _present(
        schema.dag_run,
        [
            "dag_id",
            "run_id",
            date,
            "run_after",
            "data_interval_start",
            "data_interval_end",
            "log_template_id",
        ],
    )
    runs = []
    for r in tables.rows("dag_run", wanted):
        template_id = r.get("log_template_id")
        runs.append(
            _Run(
                dag_id=r["dag_id"],
                run_id=r["run_id"],
                logical_date=utc(r.get(date) or r.get("run_after")),
                data_interval_start=utc(r.get("data_interval_start")),
                data_interval_end=utc(r.get("data_interval_end")),
                log_template=templates.get(int(template_id)) if template_id is not None else first,
            )
        )
    return runs


def _select_runs(runs: list[_Run], flt: IndexFilter) -> dict[tuple[str, str], _Run]:
    if flt.dag_ids:
        runs = [r for r in runs if r.dag_id in flt.dag_ids]
    if flt.last_runs is not None:
        per_dag: dict[str, list[_Run]] = defaultdict(list)
        for run in runs:
            per_dag[run.dag_id].append(run)
        runs = [
            run
            for dag_runs in per_dag.values()
            for run in sorted(dag_runs, key=_Run.sort_key, reverse=True)[: flt.last_runs]
        ]
    return {(r.dag_id, r.run_id): r for r in runs}


def _ti_rows(
    tables: MetadataTables, schema: _Schema, by_date: dict[tuple, str], archived: bool = False
):
    """Latest tries, or (3.4+) with ``archived`` the earlier attempts, with run_id resolved
    for pre-2.2 schemas (matched by execution date) and 3.4's ``region_index`` as the map
    index."""
    cols = _present(
        schema.ti,
        [
            "dag_id",
            "task_id",
            "run_id",
            "execution_date",
            "map_index",
            "region_index",
            "working_set",
            "try_number",
            "state",
            "start_date",
        ],
    )
    for row in tables.rows("task_instance", cols):
        if schema.attempts and bool(row.pop("working_set")) == archived:
            continue
        if "region_index" in row:
            row["map_index"] = row.pop("region_index")
        if "run_id" not in row:
            row["run_id"] = by_date.get((row["dag_id"], utc(row["execution_date"])))
        yield row


_KEY = ("dag_id", "task_id", "run_id", "map_index")


def _recorded_tries(
    tables: MetadataTables, schema: _Schema, by_date: dict[tuple, str]
) -> Iterable[Row] | None:
    """The rows that record earlier tries (3.4+ archived attempts, 2.10+ history), or None
    when the schema has none."""
    if schema.attempts:
        return _ti_rows(tables, schema, by_date, archived=True)
    if schema.history is None:
        return None
    cols = _present(
        schema.history,
        ["dag_id", "task_id", "run_id", "map_index", "try_number", "state", "start_date"],
    )
    return tables.rows("task_instance_history", cols)


def _history_rows(
    tables: MetadataTables, schema: _Schema, latest: dict[tuple, Row], by_date: dict[tuple, str]
) -> Iterator[Row]:
    """Earlier tries: recorded (2.10+ history rows, 3.4+ archived attempts), or inferred
    from try numbers and ``task_fail``.

    With recorded tries, tries 1..N-1 of a task instance at try N that have no row are
    yielded too, as unrecorded: their log files may exist, and must not be left behind.
    """
    recorded = _recorded_tries(tables, schema, by_date)
    if recorded is not None:
        seen: set[tuple] = set()
        for row in recorded:
            key = (row["dag_id"], row["task_id"], row["run_id"], row.get("map_index", -1))
            seen.add((*key, int(row.get("try_number") or 0)))
            yield row
        for key, row in latest.items():
            for try_number in range(1, int(row["try_number"] or 0)):
                if (*key, try_number) not in seen:
                    yield dict(zip(_KEY, key, strict=True), try_number=try_number, recorded=False)
        return
    failures: dict[tuple, list[Any]] = defaultdict(list)
    if schema.task_fail is not None:
        key_cols = _present(schema.task_fail, ["run_id", "execution_date", "map_index"])
        for f in tables.rows("task_fail", ["dag_id", "task_id", *key_cols, "start_date"]):
            # task_fail has run_id since 2.3; before, its run is found by execution date.
            run = f.get("run_id") or by_date.get((f["dag_id"], utc(f.get("execution_date"))))
            failures[(f["dag_id"], f["task_id"], run, f.get("map_index", -1))].append(
                utc(f["start_date"])
            )
    oldest = datetime.min.replace(tzinfo=timezone.utc)
    for key, row in latest.items():
        dag_id, task_id, run_id, map_index = key
        failed = sorted(failures.get(key, []), key=lambda start: start or oldest)
        for try_number in range(1, int(row["try_number"] or 0)):
            start = failed[try_number - 1] if try_number <= len(failed) else None
            yield {
                "dag_id": dag_id,
                "task_id": task_id,
                "run_id": run_id,
                "map_index": map_index,
                "try_number": try_number,
                "state": "failed" if try_number <= len(failed) else None,
                "start_date": start,
            }


def iter_tries(tables: MetadataTables, flt: IndexFilter | None = None) -> Iterator[TaskTry]:
    """Every try the metadata knows of that passes ``flt``: the latest tries first."""
    flt = flt or IndexFilter()
    schema = _schema(tables)
    all_runs = _runs(tables, schema)
    # Every run, not only the selected ones: old schemas match rows to runs by date.
    by_date = {(r.dag_id, r.logical_date): r.run_id for r in all_runs}
    runs = _select_runs(all_runs, flt)
    latest: dict[tuple, Row] = {}
    for row in _ti_rows(tables, schema, by_date):
        if row["run_id"] is None or (row["dag_id"], row["run_id"]) not in runs:
            continue
        row.setdefault("map_index", -1)
        latest[(row["dag_id"], row["task_id"], row["run_id"], row["map_index"])] = row
    seen: set[tuple] = set()
    for row in [*latest.values(), *_history_rows(tables, schema, latest, by_date)]:
        run = runs.get((row["dag_id"], row["run_id"]))
        try_number = int(row.get("try_number") or 0)
        key = (row["dag_id"], row["task_id"], row["run_id"], row.get("map_index", -1), try_number)
        if run is None or try_number < 1 or key in seen:
            continue
        seen.add(key)
        item = TaskTry(
            dag_id=row["dag_id"],
            task_id=row["task_id"],
            run_id=row["run_id"],
            map_index=int(row.get("map_index", -1)),
            try_number=try_number,
            state=row.get("state"),
            logical_date=run.logical_date,
            start_date=utc(row.get("start_date")),
            data_interval_start=run.data_interval_start,
            data_interval_end=run.data_interval_end,
            log_template=run.log_template,
            recorded=row.get("recorded", True),
        )
        if _wanted(item, flt):
            yield item


def _wanted(item: TaskTry, flt: IndexFilter) -> bool:
    if flt.states and (item.state or "none").lower() not in flt.states:
        return False
    when = item.start_date or item.logical_date
    return not (flt.since and (when is None or when < flt.since))


def airflow_major(tables: MetadataTables) -> int:
    """The Airflow major version whose naming rules apply to this metadata's logs.

    1.10 and 2.x render names alike (full context, ``execution_date``); 3.x renamed the
    run's date to ``logical_date``, which is how its schema is recognised.
    """
    return 3 if "logical_date" in _schema(tables).dag_run else 2
