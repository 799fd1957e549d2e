"""Merge rows (from a scratch database or the archive) into a live target, set-based, in one transaction.

Why this design: the target may be running and may already hold rows of its own. Each
table's rows are staged in a temporary table on the target, references to other tables'
surrogate keys are rewritten through maps built from natural keys, rows whose parent was
not imported are dropped with it, rows whose natural key already exists are skipped (or
overwritten, or the whole import fails, as asked), and only then are new rows inserted
with ids the target assigns. Everything happens in SQL on the target's server inside one
transaction: a failure or a kill leaves the target as it was, and a re-run finds every
row present and changes nothing.
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field

import sqlalchemy as sa

from airshift import backends
from airshift.choices import Choice, OnConflict
from airshift.errors import AirshiftError, ConflictError
from airshift.metadata.registry import TABLES, TableSpec, import_skip_reason, specs_for
from airshift.metadata.rows_from import Rewrite, RowSource
from airshift.metadata.source import AirflowDB
from airshift.progress import NULL_PROGRESS, Progress

ACTION = "_as_action"


# A target table holding fewer rows than this (and nothing referring to them) is still
# filled straight (``_Fill.NUMBERED``): a new environment's own audit rows, say.
_FEW = 1000


class _Fill(enum.Enum):
    """How a merge fills a table straight from the source (``_Merger._fills``)."""

    KEPT = "kept"  # the target held none of it: every row keeps its id
    NUMBERED = "numbered"  # it held a few: the target numbers the new rows


class RowStatus(Choice):
    """What the merge does with a staged row (kept in the staging table's ACTION column)."""

    INSERTED = "inserted"  # new: stays NULL in ACTION (see _Merger._status_in)
    EXISTING = "existing"  # natural key already in the target: skipped
    OVERWRITTEN = "overwritten"  # natural key already in the target: its row updated
    CONFLICT = "conflict"  # another row holds one of its unique keys: skipped


_INSERTED, _EXISTING = RowStatus.INSERTED.value, RowStatus.EXISTING.value
_OVERWRITTEN, _CONFLICT = RowStatus.OVERWRITTEN.value, RowStatus.CONFLICT.value


@dataclass
class TableResult:
    table: str
    staged: int = 0
    inserted: int = 0
    existing: int = 0  # natural key already present: skipped, or overwritten
    overwritten: int = 0
    newer_in_target: int = 0  # --on-conflict newer: differing rows kept, the target's is newer
    conflicts: int = 0  # another row holds one of its unique keys: skipped
    without_parent: int = 0  # the row it belongs with was not imported
    differing: int = 0  # after the merge, rows whose content differs from the archive's
    indexes_rebuilt: bool = False  # loaded with plain indexes and foreign keys set aside
    # Filled straight from the source (_Merger._fill: the target held none of its rows, or
    # a few of its own); nothing stood between the source's rows and the table, so the
    # merge compares nothing (verify does).
    filled: bool = False
    samples: list[str] = field(default_factory=list)


@dataclass
class MergeResult:
    tables: dict[str, TableResult] = field(default_factory=dict)
    skipped_tables: dict[str, str] = field(default_factory=dict)
    dry_run: bool = False
    linked_to_dag_version: int = 0  # new task instances linked to the target's DAG version

    def as_dict(self) -> dict:
        return {
            "tables": {n: asdict(t) for n, t in self.tables.items()},
            "skipped_tables": self.skipped_tables,
            "dry_run": self.dry_run,
            "linked_to_dag_version": self.linked_to_dag_version,
        }


@dataclass
class _Merger:
    """Merges table by table. In ``verify`` mode nothing is written: rows the archive has
    and the target lacks count as missing, and rows both have are compared."""

    conn: sa.Connection
    md: sa.MetaData  # the target's
    on_conflict: OnConflict
    dry_run: bool
    verify: bool = False
    link_versions: bool = False
    online: bool = False
    needed_maps: set[str] = field(default_factory=set)  # tables others point at
    linked: int = 0  # new task instances linked to the target's DAG version

    def __post_init__(self) -> None:
        self.backend = backends.of(self.conn)
        self.dry_run = self.dry_run or self.verify
        self.maps: dict[str, sa.FromClause] = {}
        # Tables whose every merged row kept its own id: references to them stay as they are.
        self.same_ids: set[str] = set()
        self.index_on: dict[str, list[list[str]]] = {}
        self._held: dict[str, tuple[int, bool]] = {}  # table -> rows counted, all of them?
        self.temp_md = sa.MetaData()
        if self.verify:
            self.allowed: tuple[str, ...] = (_INSERTED, _EXISTING, _OVERWRITTEN)
        elif self.on_conflict in (OnConflict.OVERWRITE, OnConflict.NEWER):
            self.allowed = (_INSERTED, _OVERWRITTEN)
        else:
            self.allowed = (_INSERTED,)
        # Rows whose parent has these statuses are merged: a delta also brings new and
        # changed children of runs the target holds unchanged.
        self.parents_kept = self.allowed
        if self.on_conflict is OnConflict.NEWER:
            self.parents_kept = (*self.allowed, _EXISTING)

    # -- helpers ---------------------------------------------------------------------
    def _temp(
        self,
        name: str,
        columns: list[sa.Column],
        joined_on: list[list[str]],
        probed_on: list[list[str]] | None = None,
    ) -> sa.Table:
        """A temp table, indexed (once filled, see ``_index``) on ``probed_on``, the keys a
        correlated subquery looks up row by row, and, where joins are not hash joins, also
        on ``joined_on``, the keys other statements join on: those backends run such joins
        as one probe per row, while a hash join never uses an index that only costs time
        to build."""
        t = sa.Table(name, self.temp_md, *columns, prefixes=["TEMPORARY"])
        keys = [*(probed_on or []), *([] if self.backend.hash_joins else joined_on)]
        self.index_on[name] = [cols for cols in keys if cols]
        self.backend.create_temp(self.conn, t, self.index_on[name])
        return t

    def _index(self, t: sa.Table) -> None:
        """Index a filled temp table (cheaper than keeping the index up to date while
        filling it), then give the planner its statistics."""
        self.backend.index_temp(self.conn, t, self.index_on[t.name])
        self._analyze(t)

    def _key_lookup(
        self, spec: TableSpec, s: sa.Table, t: sa.Table, narrowed: bool
    ) -> sa.Table | None:
        """A copy of the target's natural keys (and surrogate key) to probe instead of the
        target, or None when the target itself will do (its index finds the key).

        Where the target has no index on the natural key (``job``, ``log``, ``trigger``...):
        - without hash joins a correlated EXISTS runs as one probe per row, which would be
          quadratic: the copy holds all the target's keys, indexed (filled in one pass);
        - with hash joins, ``narrowed`` (a few staged rows against a big target, a cutover's
          delta, that no index narrows, see ``_classify``): each statement that matched the
          target hashed all of it, so classifying 24 jobs, deciding which are newer,
          updating and mapping them read all 266k jobs (their key columns cast for the
          null-safe match) five times, 1 s of a medium delta (docs/benchmarks.md). The copy
          holds only the target's rows under the staged keys (one pass); the statements
          after match the copy and reach the target's rows by their primary key.
        """
        if _indexed_on(t, spec.key) or (self.backend.hash_joins and not narrowed):
            return None
        ids = [spec.pk] if spec.pk else []
        ids += [c.name for c in t.primary_key.columns]
        names = list(dict.fromkeys([*spec.key, *ids]))
        name = f"_as_key_{spec.name}"
        fresh = name not in self.temp_md.tables
        if fresh:
            k = self._temp(name, [sa.Column(c, t.c[c].type) for c in names], [list(spec.key)])
        else:  # again, after the insert: emptied and refilled (its index stays)
            k = self.temp_md.tables[name]
            self.conn.execute(k.delete())
        rows = sa.select(*[t.c[c] for c in names])
        if self.backend.hash_joins:
            rows = rows.where(sa.exists().where(self._match(s, t, spec.key)))
        self.conn.execute(sa.insert(k).from_select(names, rows))
        if fresh:
            self._index(k)
        return k

    def _pair(
        self, spec: TableSpec, s: sa.Table, t: sa.Table, look: sa.Table
    ) -> list[sa.ColumnElement[bool]]:
        """A staged row and the target's row under the same natural key: matched in
        ``look`` (the target, or its key copy, then the target's row by its primary key)."""
        if look is t:
            return [self._match(s, t, spec.key)]
        by_pk = [t.c[c.name] == look.c[c.name] for c in t.primary_key.columns]
        return [self._match(s, look, spec.key), *by_pk]

    def _eq(
        self, a: sa.ColumnElement, b: sa.ColumnElement, target_col: sa.Column
    ) -> sa.ColumnElement[bool]:
        if isinstance(target_col.type, sa.JSON):  # json has no '=' on PostgreSQL
            a, b = sa.cast(a, sa.Text), sa.cast(b, sa.Text)
        return a == b if not target_col.nullable else a.is_not_distinct_from(b)

    def _match(
        self, s: sa.FromClause, t: sa.Table, cols: tuple[str, ...]
    ) -> sa.ColumnElement[bool]:
        """Join on a natural key, null-safely, in the form the backend can join on
        (``Backend.null_safe_eq``)."""
        conds = []
        for c in cols:
            a, b, col = s.c[c], t.c[c], t.c[c]
            conds.append(self.backend.null_safe_eq(a, b) if col.nullable else self._eq(a, b, col))
        return sa.and_(*conds)

    def _analyze(self, table: sa.Table) -> None:
        """Fresh planner statistics: temp tables get none, and the target's are stale
        inside this transaction. Temp tables are sampled lightly."""
        self.backend.analyze(self.conn, table, light=table.name in self.temp_md.tables)

    @staticmethod
    def _status_in(s: sa.Table, statuses: tuple[str, ...]) -> sa.ColumnElement[bool]:
        """Rows whose status is one of ``statuses``. A new row keeps a NULL status (that is
        "inserted"): marking every inserted row would rewrite the whole staging table."""
        named = [st for st in statuses if st != _INSERTED]
        cond = s.c[ACTION].in_(named) if named else sa.false()
        return sa.or_(s.c[ACTION].is_(None), cond) if _INSERTED in statuses else cond

    @staticmethod
    def _status(s: sa.Table) -> sa.ColumnElement[str]:
        return sa.func.coalesce(s.c[ACTION], _INSERTED)

    def _count(self, s: sa.FromClause, *where: sa.ColumnElement[bool]) -> int:
        return self.conn.execute(
            sa.select(sa.func.count()).select_from(s).where(*where)
        ).scalar_one()

    def _delete(self, s: sa.Table, cond) -> int:
        return self.conn.execute(sa.delete(s).where(cond)).rowcount

    # -- one table -------------------------------------------------------------------
    def merge_table(
        self, spec: TableSpec, source: RowSource, res: TableResult, progress: Progress
    ) -> None:
        t = self.md.tables[spec.name]
        have = source.columns()[spec.name]
        cols = [c for c in t.columns if c.name in have]
        filled = self._fills(spec, source, t, [c.name for c in cols])
        if filled is not None:
            self._fill(*filled, spec, source, t, [c.name for c in cols], res, progress)
            return
        s = self._temp(
            f"_as_{spec.name}",
            [sa.Column(c.name, c.type) for c in cols] + [sa.Column(ACTION, sa.String(16))],
            [list(spec.key), [spec.pk] if spec.pk else []],
        )
        progress.update(f"merge {spec.name}")
        res.staged = source.stage(self.conn, spec.name, s, [c.name for c in cols])
        progress.update(f"merge {spec.name}", res.staged, total=res.staged)
        self._remap(spec, s, t, res)
        self._keep_with_parent(spec, s, res)
        if res.staged == res.without_parent:
            # Nothing to merge (most tables in a cutover's delta): indexing, classifying,
            # counting and mapping no rows cost a dozen statements per table. No map is
            # built, which _remap and _keep_with_parent treat as an empty one: children
            # of this table find no parent either way.
            return
        self._index(s)
        look = self._classify(spec, s, t, res)
        if res.existing or res.conflicts:
            self._analyze(s)  # statuses changed: the planner would still expect all rows new
        self._write(spec, s, t, [c.name for c in cols], res, look)
        mapped = spec.name in self.needed_maps  # only tables others point at need an id map
        compared = self._compares(spec)
        # The target's statistics predate the rows just inserted. Refreshed only when those
        # are more than a tenth of it: an ANALYZE of a big table costs seconds (a cutover's
        # delta paid them for a few thousand rows, docs/benchmarks.md), and PostgreSQL
        # scales its row estimates by the table's current size at planning anyway.
        if res.inserted and (mapped or compared) and not self._holds(t, 10 * res.inserted):
            self._analyze(t)
        if (mapped or compared) and (res.inserted or look is t):
            # anew: with the rows just inserted
            copy = self._key_lookup(spec, s, t, narrowed=look is not t)
            look = t if copy is None else copy
        if mapped:
            self._build_map(spec, s, t, look)
            if spec.pk and self._kept_ids(spec.name):
                self.same_ids.add(spec.name)
        if compared:
            res.differing = self._differing(spec, s, t, [c.name for c in cols], look)

    def _remap(
        self,
        spec: TableSpec,
        s: sa.Table,
        t: sa.Table,
        res: TableResult,
        rewritten: Collection[str] = (),
    ) -> None:
        """Rewrite references to other tables' surrogate keys through their id maps.

        One UPDATE for all of a table's references, before the staging table is indexed:
        every UPDATE rewrites each row it touches (and would update each index). A
        reference to a table whose ids were kept is left as it is (unless it points at
        no merged row), and so is one ``rewritten`` on the way in: it holds one of the
        target's own ids."""
        values: dict[str, sa.ColumnElement | None] = {}
        for col, parent in spec.refs.items():
            if col not in s.c:
                continue
            m = self._id_map(parent)
            found = [] if m is None else [sa.exists().where(m.c.old_pk == s.c[col])]
            own = col in rewritten
            if own:
                held = self.md.tables[parent]
                (pk,) = held.primary_key.columns
                found.append(sa.exists().where(pk == s.c[col]))
            unmapped = sa.and_(s.c[col].is_not(None), *[~f for f in found])
            kept = own or parent in self.same_ids
            if not t.c[col].nullable:
                res.without_parent += self._delete(s, unmapped)
            elif kept:
                # Only a reference to no merged row changes (to NULL), not every one.
                self.conn.execute(sa.update(s).where(unmapped).values({col: None}))
            if not kept:
                values[col] = (
                    None
                    if m is None
                    else sa.select(m.c.new_pk).where(m.c.old_pk == s.c[col]).scalar_subquery()
                )
        if values:
            referring = sa.or_(*[s.c[c].is_not(None) for c in values])
            self.conn.execute(sa.update(s).where(referring).values(values))

    def _id_map(self, table: str) -> sa.FromClause | None:
        """``table``'s old id -> new id map, or None where it brought no ids to map."""
        m = self.maps.get(table)
        return m if m is not None and "old_pk" in m.c else None

    def _kept_ids(self, table: str) -> bool:
        """Whether every row in ``table``'s id map kept its id (a UUID, an empty target)."""
        m = self.maps[table]
        moved = sa.exists().where(m.c.old_pk != m.c.new_pk)
        return not self.conn.execute(sa.select(moved)).scalar()

    # -- a table the target holds nothing in ---------------------------------------------
    def _fills(
        self, spec: TableSpec, source: RowSource, t: sa.Table, names: list[str]
    ) -> tuple[_Fill, list[Rewrite]] | None:
        """How ``t`` (columns ``names``) is filled straight from the source (``_fill``)
        and what the source rewrites on the way, or None to stage it.

        Filled: the backend can, this run writes, every id ``t`` refers to kept its
        value or is rewritten by the source on the way (``_moved``), and so is a DAG
        version to link (``_version_link``), and the target holds no row of it
        (``KEPT``: the rows keep their ids), or only a few that nothing refers to and
        no other unique key guards (``NUMBERED``: a new environment's own audit rows;
        the target numbers the new ones, as the staged path does, and a new row equal to
        one of those is taken out again). The target's rows are counted again once its
        writers are held off, so a row its scheduler adds meanwhile is not missed.

        Why: a row-level merge writes each row twice (a staging table, then the target)
        and classifies, maps and compares rows against a table that holds none; into an
        empty table that is half of what a `migrate` costs beyond Airflow's own migration
        (docs/benchmarks.md, "Round two")."""
        if self.dry_run or not self.backend.fills_empty_tables or self._holds(t, _FEW):
            return None
        moved = self._moved(spec, t, names)
        links = self._links(spec, names)
        if moved is None or ((moved or links) and not source.rewrites):
            return None
        if spec.parent and spec.parent.table not in self.maps:
            return None
        numbered = (
            spec.generated
            and spec.name not in self.needed_maps
            and not _unique_beyond_pk(t)
            and self.on_conflict in (OnConflict.SKIP, OnConflict.FAIL)
        )
        if not numbered and self._holds(t, 1):
            return None
        self.backend.hold_writes(self.conn, t)
        self._held.pop(t.name, None)
        if self._holds(t, 1) and (not numbered or self._holds(t, _FEW)):
            return None
        rewrites = [Rewrite(c, c, self._moved_ids(spec.refs[c]), nulls_only=False) for c in moved]
        if links:
            rewrites.append(self._version_link())
        return (_Fill.NUMBERED if self._holds(t, 1) else _Fill.KEPT), rewrites

    def _moved(self, spec: TableSpec, t: sa.Table, names: list[str]) -> list[str] | None:
        """The columns among ``names`` that refer to a parent whose ids moved (its id map
        is no identity: a 2.x log template the target holds under another id), which the
        source rewrites on the way in; None if one cannot be: NOT NULL (a row referring
        to no merged parent is dropped, which only the staged path counts), or a parent
        of more than ``_FEW`` rows (the source joins the map as a list of values)."""
        moved = [
            c
            for c, p in spec.refs.items()
            if c in names and p not in self.same_ids and self._id_map(p) is not None
        ]
        for c in moved:
            m = self.maps[spec.refs[c]]
            size = self.conn.execute(sa.select(sa.func.count()).select_from(m)).scalar_one()
            if not t.c[c].nullable or size > _FEW:
                return None
        return moved

    def _moved_ids(self, parent: str) -> dict[str, str]:
        """``parent``'s id map as text, old id -> new id (the staged path's ``_remap``)."""
        m = self._id_map(parent)
        assert m is not None  # see _moved
        found = self.conn.execute(sa.select(m.c.old_pk, m.c.new_pk).where(m.c.new_pk.is_not(None)))
        return {str(old): str(new) for old, new in found}

    def _fill(
        self,
        how: _Fill,
        rewrites: list[Rewrite],
        spec: TableSpec,
        source: RowSource,
        t: sa.Table,
        names: list[str],
        res: TableResult,
        progress: Progress,
    ) -> None:
        """Copy the source's rows into ``t`` as they are (``KEPT``: ids and all); then drop
        (or clear the references of) those whose parent was not merged, as the staged
        path does, before the set-aside foreign keys come back and check every row."""
        res.filled = True
        progress.update(f"merge {spec.name}")
        before = None
        if how is _Fill.NUMBERED:
            assert spec.pk  # a generated key: see _fills
            names = [n for n in names if n != spec.pk]
            self.backend.follow_ids(self.conn, t, spec.pk)  # the new rows' ids come after
            before = self.conn.execute(sa.select(sa.func.max(t.c[spec.pk]))).scalar_one()
        with self._bulk(t, _FEW, res):  # a table holding fewer: set aside
            res.staged = source.stage(self.conn, spec.name, t, names, rewrites)
            self._remap(spec, t, t, res, {r.column for r in rewrites})
            self._keep_with_parent(spec, t, res)
        if before is not None:
            self._drop_held(spec, t, before, res)
        res.inserted = res.staged - res.without_parent - res.existing
        self.linked += sum(r.rewritten for r in rewrites if r.nulls_only)
        self._inserted(t, res.inserted)
        progress.update(f"merge {spec.name}", res.staged, total=res.staged)
        if how is _Fill.KEPT and spec.generated:
            assert spec.pk
            self.backend.follow_ids(self.conn, t, spec.pk)
        if spec.name in self.needed_maps:
            self._analyze(t)
            self.maps[spec.name] = self._kept_map(spec, t)
            self.same_ids.add(spec.name)

    def _drop_held(self, spec: TableSpec, t: sa.Table, before: int, res: TableResult) -> None:
        """Take out the rows just added (ids after ``before``) whose natural key a row the
        target held before has: those count as existing, as the staged path counts them
        (or fail the import, ``--on-conflict fail``)."""
        assert spec.pk
        held = t.alias("_as_held")
        new = t.c[spec.pk] > before
        found = sa.exists().where(held.c[spec.pk] <= before, self._match(held, t, spec.key))
        gone = self.conn.execute(
            sa.delete(t).where(new, found).returning(*[t.c[c] for c in spec.key])
        )
        res.existing = gone.rowcount
        res.samples = _samples(spec, [(*r, _EXISTING) for r in gone.fetchmany(3)])
        if res.existing and self.on_conflict is OnConflict.FAIL:
            self._fail_on_conflict(spec, res)

    def _kept_map(self, spec: TableSpec, t: sa.Table) -> sa.FromClause:
        """The map of a filled table: its rows are all this merge's, each with its own id."""
        cols: list[sa.ColumnElement] = [t.c[k] for k in spec.key]
        if spec.pk:
            cols += [t.c[spec.pk].label("old_pk"), t.c[spec.pk].label("new_pk")]
        return sa.select(*cols, sa.literal(_INSERTED).label("action")).subquery(
            f"_as_kept_{spec.name}"
        )

    def _keep_with_parent(self, spec: TableSpec, s: sa.Table, res: TableResult) -> None:
        if spec.parent is None:
            return
        m = self.maps.get(spec.parent.table)
        if m is None:
            res.without_parent += self._delete(s, sa.true())
            return
        # A parent column that is the parent's surrogate key was remapped already: match new_pk.
        conds = [
            (m.c[pcol] if pcol in m.c else m.c.new_pk) == s.c[col]  # noqa: SIM401 (new_pk may not exist)
            for col, pcol in spec.parent.columns.items()
        ]
        res.without_parent += self._delete(
            s, ~sa.exists().where(*conds, m.c.action.in_(self.parents_kept))
        )

    def _classify(self, spec: TableSpec, s: sa.Table, t: sa.Table, res: TableResult) -> sa.Table:
        """Mark staged rows the target holds (or conflicts with); returns where the
        target's keys were looked up (``_key_lookup``), for the statements after."""
        # Few rows against a big table: narrowed through an index in place (``_near``),
        # else through a copy of the target's rows under the staged keys (``_key_lookup``).
        few = self.backend.hash_joins and self._holds(t, 10 * res.staged)
        near = self._near(spec, s, t) if few else []
        keys = self._key_lookup(spec, s, t, narrowed=few and not near)
        look = t if keys is None else keys
        self.conn.execute(
            sa.update(s)
            .where(sa.exists().where(self._match(s, look, spec.key), *near))
            .values({ACTION: _EXISTING})
        )
        for ukey in spec.unique:
            if set(ukey) <= set(s.c.keys()):
                self.conn.execute(
                    sa.update(s)
                    .where(s.c[ACTION].is_(None), sa.exists().where(self._match(s, t, ukey)))
                    .values({ACTION: _CONFLICT})
                )
        res.existing = self._count(s, s.c[ACTION] == _EXISTING)
        res.conflicts = self._count(s, s.c[ACTION] == _CONFLICT)
        if res.existing or res.conflicts:
            shown = self.conn.execute(
                sa.select(*[s.c[c] for c in spec.key], s.c[ACTION])
                .where(s.c[ACTION].is_not(None))
                .limit(3)
            )
            res.samples = _samples(spec, shown)
        if self.on_conflict is OnConflict.FAIL and (res.existing or res.conflicts):
            self._fail_on_conflict(spec, res)
        return look

    @staticmethod
    def _fail_on_conflict(spec: TableSpec, res: TableResult) -> None:
        raise ConflictError(
            f"{res.existing + res.conflicts} {spec.name} rows conflict with rows already in the "
            f"target (for example {res.samples[0]}); nothing was imported (--on-conflict fail)."
        )

    def _near(self, spec: TableSpec, s: sa.Table, t: sa.Table) -> list[sa.ColumnElement[bool]]:
        """The target's rows narrowed to the staged rows' range of the first key column the
        target indexes, which its index finds (for few rows staged against a big table).

        Why: a null-safe key match (``Backend.null_safe_eq``) can only be hashed, so
        classifying a few thousand audit rows read all of a 1.4M-row ``log`` (9 s of a
        cutover's delta, docs/benchmarks.md); a delta's rows are recent, a small range. No
        match is lost: a row equal on the key is within the range, or NULL on both sides."""
        leading = {ix.columns[0].name for ix in t.indexes if ix.columns}
        col = next(
            (
                t.c[c]
                for c in spec.key
                if c in leading and isinstance(t.c[c].type, (sa.DateTime, sa.Integer))
            ),
            None,
        )
        if col is None:
            return []
        staged_col = s.c[col.name]
        within = col.between(
            sa.select(sa.func.min(staged_col)).scalar_subquery(),
            sa.select(sa.func.max(staged_col)).scalar_subquery(),
        )
        return [sa.or_(within, col.is_(None)) if col.nullable else within]

    def _write(
        self,
        spec: TableSpec,
        s: sa.Table,
        t: sa.Table,
        names: list[str],
        res: TableResult,
        look: sa.Table,
    ) -> None:
        ins = [n for n in names if not (spec.generated and n == spec.pk)]
        if self.on_conflict in (OnConflict.OVERWRITE, OnConflict.NEWER) and res.existing:
            # MySQL cannot open one temporary table twice in a statement (the count of
            # rows newer in the target probes twice): there the target is matched itself.
            self._overwrite(spec, s, t, names, ins, res, look if self.backend.hash_joins else t)
        res.inserted = self._count(s, s.c[ACTION].is_(None))
        if not self.dry_run and res.inserted:
            link = self._dag_version_link(spec, s, ins)
            exprs = [link["expr"] if link and n == "dag_version_id" else s.c[n] for n in ins]
            sel = sa.select(*exprs).where(s.c[ACTION].is_(None))
            if link:
                sel = sel.select_from(link["from"])
            with self._bulk(t, res.inserted, res):
                self.conn.execute(sa.insert(t).from_select(ins, sel))
            self._inserted(t, res.inserted)

    def _overwrite(
        self,
        spec: TableSpec,
        s: sa.Table,
        t: sa.Table,
        names: list[str],
        ins: list[str],
        res: TableResult,
        look: sa.Table,
    ) -> None:
        """Update the target's rows that staged rows replace: every existing one
        (``overwrite``), or those the source changed and the target does not hold a newer
        version of (``newer``). Columns the target owns keep the target's values."""
        wins = s.c[ACTION] == _EXISTING
        pair = self._pair(spec, s, t, look)
        if self.on_conflict is OnConflict.NEWER:
            differs = ~sa.and_(sa.true(), *self._same(spec, s, t, names))
            changed = sa.exists().where(*pair, differs)
            newer = sa.exists().where(*pair, differs, ~self._later(spec, t, s))
            if spec.newer_by:
                res.newer_in_target = self._count(s, wins, changed, ~newer)
            wins = sa.and_(wins, newer if spec.newer_by else sa.false())
        self.conn.execute(sa.update(s).where(wins).values({ACTION: _OVERWRITTEN}))
        res.overwritten = self._count(s, s.c[ACTION] == _OVERWRITTEN)
        keep = set(spec.key) | {spec.pk} | set(spec.target_owned)
        values = {n: s.c[n] for n in ins if n not in keep}
        if values and res.overwritten and not self.dry_run:
            self.conn.execute(sa.update(t).where(*pair, s.c[ACTION] == _OVERWRITTEN).values(values))

    def _same(
        self, spec: TableSpec, s: sa.Table, t: sa.Table, names: list[str]
    ) -> list[sa.ColumnElement[bool]]:
        """Staged and target row equal in every compared column (keys, ids and columns
        the target owns aside)."""
        skip = set(spec.key) | ({spec.pk} if spec.pk else set()) | spec.uncompared
        return [self._eq(s.c[n], t.c[n], t.c[n]) for n in names if n not in skip]

    def _later(self, spec: TableSpec, a: sa.Table, b: sa.Table) -> sa.ColumnElement[bool]:
        """``a``'s row is later than ``b``'s by ``spec.newer_by``: the first column that
        differs is greater in ``a`` (NULL lowest); columns this schema lacks are left out."""
        cols = [c for c in spec.newer_by if c in a.c and c in b.c]
        later: list[sa.ColumnElement[bool]] = []
        for i, c in enumerate(cols):
            # Never NULL (a NULL would make "not later" unknown, and the row lose).
            greater = sa.and_(a.c[c].is_not(None), sa.or_(b.c[c].is_(None), a.c[c] > b.c[c]))
            before = [self.backend.null_safe_eq(a.c[p], b.c[p]) for p in cols[:i]]
            later.append(sa.and_(greater, *before))
        return sa.or_(sa.false(), *later)

    @contextlib.contextmanager
    def _bulk(self, t: sa.Table, rows: int, res: TableResult) -> Iterator[None]:
        """Where the backend can (PostgreSQL), insert with the table's foreign keys and plain
        indexes set aside and re-created afterwards (``pg_bulk``) when the import brings
        more rows (``rows``) than the target holds: then one index build is cheaper than
        maintaining it row by row.

        The cost: the table is locked (ACCESS EXCLUSIVE) until the merge commits, so the
        target's scheduler and UI wait for it. ``online`` keeps every table readable.
        """
        if not self._sets_aside(t, rows):
            yield
            return
        aside = self.backend.set_aside(self.conn, [t.name])
        yield
        self.backend.restore(self.conn, aside)
        res.indexes_rebuilt = bool(aside.indexes or aside.fks)

    def _sets_aside(self, t: sa.Table, new_rows: int) -> bool:
        """A backend that can, not ``online``, and more new rows than ``t`` holds."""
        if self.online or not self.backend.sets_indexes_aside:
            return False
        return not self._holds(t, new_rows)

    def _holds(self, t: sa.Table, rows: int) -> bool:
        """Whether ``t`` holds at least ``rows`` rows, counted no further than that, so a
        big target is not scanned to find out. What a count found is kept (the rows this
        merge inserts added, ``_inserted``): one table is asked up to three times, each a
        scan of up to ten times the staged rows (tens of milliseconds per table of a
        cutover's delta)."""
        known, exact = self._held.get(t.name, (0, False))
        if exact or known >= rows:
            return known >= rows
        held = sa.select(sa.literal(1)).select_from(t).limit(rows).subquery()
        n = self.conn.execute(sa.select(sa.func.count()).select_from(held)).scalar_one()
        self._held[t.name] = (n, n < rows)
        return n >= rows

    def _inserted(self, t: sa.Table, rows: int) -> None:
        """Keep ``_holds``'s count of ``t`` true after inserting ``rows`` rows."""
        if t.name in self._held:
            known, exact = self._held[t.name]
            self._held[t.name] = (known + rows, exact)

    def _build_map(self, spec: TableSpec, s: sa.Table, t: sa.Table, look: sa.Table) -> None:
        """old id -> new id (and status) per natural key; ``look`` is where the target's
        keys and ids are looked up (the target, or its indexed key copy)."""
        cols = [sa.Column(k, t.c[k].type) for k in spec.key]
        if spec.pk:
            cols += [sa.Column("old_pk", t.c[spec.pk].type), sa.Column("new_pk", t.c[spec.pk].type)]
        cols.append(sa.Column("action", sa.String(16)))
        m = self._temp(
            f"_as_map_{spec.name}",
            cols,
            [["new_pk"], list(spec.key)] if spec.pk else [list(spec.key)],
            [["old_pk"]] if spec.pk else [],  # _remap's lookups
        )
        names = [*spec.key, "old_pk", "new_pk", "action"] if spec.pk else [*spec.key, "action"]
        keys = [s.c[k] for k in spec.key]
        if not spec.pk:  # every row not in conflict is in the target now: no join needed
            sel = sa.select(*keys, self._status(s))
        elif self.dry_run:  # nothing was inserted: pretend new rows keep their ids
            new_pk = sa.func.coalesce(look.c[spec.pk], s.c[spec.pk])
            sel = sa.select(*keys, s.c[spec.pk], new_pk, self._status(s)).select_from(
                s.outerjoin(look, self._match(s, look, spec.key))
            )
        else:
            sel = sa.select(*keys, s.c[spec.pk], look.c[spec.pk], self._status(s)).select_from(
                s.join(look, self._match(s, look, spec.key))
            )
        # Staging first, each row probing the indexed side.
        sel = sel.where(self._status_in(s, (_INSERTED, _EXISTING, _OVERWRITTEN)))
        sel = self.backend.in_written_order(sel)
        self.conn.execute(sa.insert(m).from_select(names, sel))
        self._index(m)
        self.maps[spec.name] = m

    def _compares(self, spec: TableSpec) -> bool:
        """Whether this run compares the merged rows with the archive's (see _differing)."""
        if (self.dry_run and not self.verify) or spec.counted_only:
            return False
        # Rows that share a key would make the check quadratic; they were copied as they
        # are by INSERT ... SELECT from the staging table. `verify` checks them.
        return spec.key_unique or self.verify

    def _differing(
        self, spec: TableSpec, s: sa.Table, t: sa.Table, names: list[str], look: sa.Table
    ) -> int:
        """Rows whose stored content differs from the archive's: those this import wrote,
        or in verify mode those both sides have (minus columns the target owns)."""
        cmp = self._same(spec, s, t, names)
        if not cmp:
            return 0
        checked = (_EXISTING,) if self.verify else self.allowed
        # "No identical row under the same key" as an anti-join: a join would multiply rows
        # that share a key (identical audit-log rows, say) into a quadratic blow-up.
        same = sa.exists().where(*self._pair(spec, s, t, look), *cmp)
        return self._count(s, self._status_in(s, checked), ~same)

    def _links(self, spec: TableSpec, names: Iterable[str]) -> bool:
        """Whether new rows of ``spec`` with columns ``names`` are linked to a DAG version
        (``_dag_version_link``): task instances, where the target holds versions."""
        dv = self.md.tables.get("dag_version")
        if not self.link_versions or spec.name != "task_instance" or dv is None:
            return False
        return "dag_version_id" in names and self._holds(dv, 1)

    def _dag_version_link(self, spec: TableSpec, s: sa.Table, ins: list[str]) -> dict:
        """For new task instances without a DAG version, the newest version of their DAG
        in the target: the column expression and the join that supplies it.

        Airflow's own migration leaves ``dag_version_id`` empty; where the target has
        parsed the DAG, linking lets the UI show imported tries against a DAG version.
        It is done in the INSERT itself: an UPDATE afterwards rewrote every new row.
        """
        if not self._links(spec, ins):
            return {}
        newest = self._newest_versions()
        self.linked = self._count(
            s.join(newest, newest.c.dag_id == s.c.dag_id),
            s.c[ACTION].is_(None),
            s.c.dag_version_id.is_(None),
        )
        return {
            "expr": sa.func.coalesce(s.c.dag_version_id, newest.c.id),
            "from": s.outerjoin(newest, newest.c.dag_id == s.c.dag_id),
        }

    def _newest_versions(self) -> sa.Subquery:
        """Each DAG's newest version in the target: ``dag_id``, ``id``."""
        dv = self.md.tables["dag_version"]
        top = (
            sa.select(dv.c.dag_id, sa.func.max(dv.c.version_number).label("v"))
            .group_by(dv.c.dag_id)
            .subquery()
        )
        return (
            sa.select(dv.c.dag_id, dv.c.id)
            .join(top, sa.and_(top.c.dag_id == dv.c.dag_id, top.c.v == dv.c.version_number))
            .subquery("newest")
        )

    def _version_link(self) -> Rewrite:
        """The link of ``_dag_version_link`` for rows filled straight from a source that
        can apply it on the way (``RowSource.rewrites``): a DAG id -> version id list,
        one row per DAG the target has parsed."""
        newest = self._newest_versions()
        found = self.conn.execute(sa.select(newest.c.dag_id, sa.cast(newest.c.id, sa.Text)))
        return Rewrite("dag_version_id", "dag_id", {dag: v for dag, v in found})

    def drop_temps(self) -> None:
        for table in reversed(self.temp_md.sorted_tables):
            self.backend.drop_temp(self.conn, table)


def _samples(spec: TableSpec, rows: Iterable[Sequence]) -> list[str]:
    """Rows (their natural key, then their status) as a report shows them."""
    return [
        ", ".join(f"{k}={v!r}" for k, v in zip((*spec.key, "status"), r, strict=True)) for r in rows
    ]


def _unique_beyond_pk(t: sa.Table) -> bool:
    """Whether anything but ``t``'s primary key keeps its rows unique."""
    return any(isinstance(u, sa.UniqueConstraint) for u in t.constraints) or any(
        ix.unique for ix in t.indexes
    )


def _indexed_on(t: sa.Table, key: tuple[str, ...]) -> bool:
    """Whether ``t`` has an index that finds ``key`` selectively: a unique one within the
    key, or any on the whole key (``job``'s index on ``dag_id`` alone is no help: most
    jobs have none)."""
    unique = [[c.name for c in t.primary_key.columns]]
    unique += [
        [c.name for c in u.columns] for u in t.constraints if isinstance(u, sa.UniqueConstraint)
    ]
    unique += [[c.name for c in ix.columns] for ix in t.indexes if ix.unique]
    other = [[c.name for c in ix.columns] for ix in t.indexes if not ix.unique]
    return any(cols and set(cols) <= set(key) for cols in unique) or any(
        set(cols) == set(key) for cols in other
    )


def merge(
    source: RowSource,
    target: AirflowDB,
    on_conflict: OnConflict = OnConflict.SKIP,
    dry_run: bool = False,
    progress: Progress = NULL_PROGRESS,
    link_dag_versions: bool = False,
    verify: bool = False,
    online: bool = False,
) -> MergeResult:
    """Merge every registered table of ``source`` into ``target`` (same schema revision)."""
    target.refresh()
    if source.revision != target.revision.revision:
        raise AirshiftError(
            f"The target's schema is at {target.revision.label} ({target.revision.revision}), "
            f"not at {source.revision}, the revision the rows were prepared for: it changed "
            "while the import ran (an `airflow db migrate`?). Nothing was imported; run the "
            "import again."
        )
    result = MergeResult(dry_run=dry_run or verify)
    columns = source.columns()
    specs = [sp for sp in specs_for(columns) if sp.name in target.metadata.tables]
    # A table the export leaves out carries no rows from the source: any row a scratch
    # database holds there is its own (alembic_version).
    known = {sp.name for sp in specs} | {n for n, s in TABLES.items() if s.not_exported}
    for name in sorted(source.holding_rows(set(columns) - known)):
        result.skipped_tables[name] = (
            import_skip_reason(name) or "airshift does not know this table; not imported"
        )
    with target.engine.connect() as conn:
        trans = conn.begin()
        try:
            needed = {r for sp in specs for r in sp.refs.values()}
            needed |= {sp.parent.table for sp in specs if sp.parent}
            merger = _Merger(
                conn,
                target.metadata,
                on_conflict,
                dry_run,
                verify,
                link_dag_versions,
                online,
                needed,
            )
            # A table with no rows is not staged at all (a temp table, a COPY and two
            # statements each: a cutover's delta leaves a third of the tables empty).
            holding = source.holding_rows([sp.name for sp in specs])
            for spec in specs:
                res = result.tables[spec.name] = TableResult(spec.name)
                if spec.name in holding:
                    merger.merge_table(spec, source, res, progress)
            result.linked_to_dag_version = merger.linked
            merger.drop_temps()
        except BaseException:
            trans.rollback()
            raise
        trans.rollback() if dry_run or verify else trans.commit()
    return result
