"""Which rows an export takes: --dag-id globs, --since, --last-runs, --include/--exclude.

Why in one place: rows that belong together must stay together, so every table is
filtered through the same set of selected runs (by dag_id+run_id, dag_run_id, or the
owning task instance's ti_id / task_instance_id) or selected DAGs, decided here from the
columns each table has.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from dataclasses import dataclass, field

import sqlalchemy as sa

from airshift.errors import AirshiftError
from airshift.metadata.registry import spec_of
from airshift.metadata.source import AirflowDB


def parse_since(value: str | None) -> dt.datetime | None:
    """``--since``: an ISO date or time (UTC unless it says otherwise)."""
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise AirshiftError(
            f"--since takes an ISO date such as 2024-01-31, not {value!r}."
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


@dataclass
class Selection:
    dag_globs: list[str] = field(default_factory=list)
    since: dt.datetime | None = None
    last_runs: int | None = None
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    # Only what changed at or after this moment (a cutover's delta): runs that changed or
    # whose task instances or notes did, and the rows of tables with a ``changed_at``
    # column (TableSpec) that changed, or that a selected row refers to.
    changed_since: dt.datetime | None = None

    @property
    def filters_runs(self) -> bool:
        return bool(self.dag_globs or self.since or self.last_runs or self.changed_since)

    def as_dict(self) -> dict:
        return {
            "dag_id": self.dag_globs,
            "since": self.since.isoformat() if self.since else None,
            "last_runs": self.last_runs,
            "include": self.include,
            "exclude": self.exclude,
            "changed_since": self.changed_since.isoformat() if self.changed_since else None,
        }

    def wants_table(self, name: str) -> bool:
        if self.include and not any(fnmatch.fnmatchcase(name, p) for p in self.include):
            return False
        return not any(fnmatch.fnmatchcase(name, p) for p in self.exclude)


class RowFilter:
    """WHERE clauses for each table, built once per export against the source schema."""

    def __init__(self, source: AirflowDB, sel: Selection) -> None:
        self.source, self.sel = source, sel
        self.dag_ids = self._matching_dags() if sel.dag_globs else None
        self.runs = self._selected_runs() if sel.filters_runs else None

    def _matching_dags(self) -> list[str]:
        md = self.source.metadata
        found: set[str] = set()
        with self.source.engine.connect() as conn:
            for name in ("dag", "dag_run"):
                if name in md.tables:
                    found |= {
                        r[0] for r in conn.execute(sa.select(md.tables[name].c.dag_id).distinct())
                    }
        return sorted(
            d for d in found if any(fnmatch.fnmatchcase(d, g) for g in self.sel.dag_globs)
        )

    def _selected_runs(self) -> sa.Subquery:
        run = self.source.metadata.tables["dag_run"]
        date = run.c[self.source.run_date_column]
        q = sa.select(run.c.id, run.c.dag_id, run.c.run_id)
        if self.dag_ids is not None:
            q = q.where(run.c.dag_id.in_(self.dag_ids))
        if self.sel.since:
            q = q.where(date >= self.sel.since)
        if self.sel.changed_since:
            q = q.where(self._run_changed(run, self.sel.changed_since))
        if self.sel.last_runs:
            rn = sa.func.row_number().over(
                partition_by=run.c.dag_id, order_by=(date.desc(), run.c.id.desc())
            )
            inner = q.add_columns(rn.label("rn")).subquery()
            q = sa.select(inner.c.id, inner.c.dag_id, inner.c.run_id).where(
                inner.c.rn <= self.sel.last_runs
            )
        if self.sel.changed_since:
            # Listed once, here (a delta's runs are few): as a subquery, an OR of EXISTS is
            # estimated at most of the table, so PostgreSQL stops hashing the `IN` of the
            # jobs those runs' task instances refer to and compares every job with every
            # task instance (a medium database: many minutes for a 1 % delta). The source
            # is paused and drained by then; what changes after the listing the verify finds.
            with self.source.engine.connect() as conn:
                ids = list(conn.execute(sa.select(q.subquery().c.id)).scalars())
            listed: sa.BindParameter[list[int]] = sa.bindparam(
                "changed_runs", ids, expanding=True, literal_execute=True
            )
            q = sa.select(run.c.id, run.c.dag_id, run.c.run_id).where(run.c.id.in_(listed))
        return q.subquery("selected_runs")

    def _changed(self, table: sa.Table, since: dt.datetime) -> sa.ColumnElement[bool]:
        cols = [table.c[c] for c in spec_of(table.name).changed_at if c in table.c]
        return sa.or_(sa.false(), *(c >= since for c in cols))

    def _run_changed(self, run: sa.Table, since: dt.datetime) -> sa.ColumnElement[bool]:
        """The run, one of its task instances or one of their notes changed since then."""
        md = self.source.metadata
        changed = [self._changed(run, since)]
        for name in ("task_instance", "task_instance_note"):
            if name in md.tables and {"dag_id", "run_id"} <= set(md.tables[name].c.keys()):
                child = md.tables[name]
                changed.append(
                    sa.exists().where(
                        child.c.dag_id == run.c.dag_id,
                        child.c.run_id == run.c.run_id,
                        self._changed(child, since),
                    )
                )
        if "dag_run_note" in md.tables:
            note = md.tables["dag_run_note"]
            changed.append(
                sa.exists().where(note.c.dag_run_id == run.c.id, self._changed(note, since))
            )
        return sa.or_(*changed)

    def _kept_apart(self, table: sa.Table) -> bool:
        """Rows kept apart from runs (the audit log, jobs, asset events): a filtered export
        takes those its own filter keeps, and those another taken row refers to."""
        spec = spec_of(table.name)
        return bool(spec.changed_at) and not spec.parent and table.name != "dag_run"

    def _own(self, table: sa.Table) -> sa.ColumnElement[bool] | None:
        """A kept-apart table's own filter: what changed (a delta), its DAGs, its dates
        (the audit log); None: the whole table."""
        c = table.c
        if self.sel.changed_since is not None:
            return self._changed(table, self.sel.changed_since)
        if self.dag_ids is not None and "dag_id" in c:
            return c.dag_id.in_(self.dag_ids)
        if self.sel.since is not None and table.name == "log":
            return c.dttm >= self.sel.since
        return None

    def _own_or_referenced(self, table: sa.Table) -> sa.ColumnElement[bool] | None:
        """Rows of a kept-apart table its own filter keeps, or that a taken row of another
        table refers to. Why: the merge maps references through the rows it imports, so a
        reference to a row left out would be cleared (a selected DAG's task instances
        refer to the scheduler's jobs, which belong to no DAG; a delta's new runs to older
        jobs and asset events)."""
        own = self._own(table)
        pk = spec_of(table.name).pk
        if own is None or pk is None:
            return own
        keep = [own]
        for referring in self.source.metadata.tables.values():
            refs = spec_of(referring.name).refs
            cols = [c for c, parent in refs.items() if parent == table.name and c in referring.c]
            if referring is table or not cols:
                continue
            # the referring rows taken (of one that is itself kept apart: those its own
            # filter keeps, so that no two such tables select each other)
            taken = self._own(referring) if self._kept_apart(referring) else self.where(referring)
            for col in cols:
                refer = sa.select(referring.c[col])
                keep.append(table.c[pk].in_(refer if taken is None else refer.where(taken)))
        return sa.or_(*keep)

    def where(self, table: sa.Table) -> sa.ColumnElement[bool] | None:
        """The condition that keeps ``table``'s rows consistent with the selection."""
        c = table.c
        if self.sel.changed_since is not None and self._kept_apart(table):
            return self._own_or_referenced(table)
        if self.runs is not None:
            if table.name == "dag_run":
                return c.id.in_(sa.select(self.runs.c.id))
            if "run_id" in c and "dag_id" in c:
                return sa.tuple_(c.dag_id, c.run_id).in_(
                    sa.select(self.runs.c.dag_id, self.runs.c.run_id)
                )
            if "dag_run_id" in c:
                return c.dag_run_id.in_(sa.select(self.runs.c.id))
            # 3.x rows owned by a task instance's (3.4: an attempt's) UUID: notes,
            # reschedules (ti_id); 3.4's xcom_v2, rtif_v2 (task_instance_id).
            owner = next((c[n] for n in ("ti_id", "task_instance_id") if n in c), None)
            if owner is not None:
                ti = self.source.metadata.tables["task_instance"]
                sel_ti = sa.select(ti.c.id).where(
                    sa.tuple_(ti.c.dag_id, ti.c.run_id).in_(
                        sa.select(self.runs.c.dag_id, self.runs.c.run_id)
                    )
                )
                return owner.in_(sel_ti)
            if self._kept_apart(table):  # jobs, asset events: no run of their own
                return self._own_or_referenced(table)
        if self.dag_ids is not None and "dag_id" in c:
            return c.dag_id.in_(self.dag_ids)
        if self.sel.since is not None and table.name == "log":
            return c.dttm >= self.sel.since
        return None
