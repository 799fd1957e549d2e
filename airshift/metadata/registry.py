"""What airshift knows about each Airflow metadata table: one record per table.

Why: column lists are not kept here (Airflow's own migrations own those, and reflection
reads them); only the facts that no schema states: the natural key that identifies a row
across databases, the surrogate key a target assigns anew, which columns point at another
table's surrogate key, which parent row a row belongs with, which columns hold secrets,
and what the export, the import and ``verify`` leave out of each table, with the reason.

Every table of every schema head airshift knows (``data/revisions.json``, generated from
the real packages) is classified here, merged or left out with a reason; a test holds the
registry to that list, so an Airflow release that adds a table fails it until the table
is classified. Names cover Airflow 2.x and 3.x; merge entries whose columns a given
revision lacks are ignored for that revision. Order matters: parents come before children.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

TI_KEY = ("dag_id", "task_id", "run_id", "map_index")
RUN_KEY = ("dag_id", "run_id")
# Airflow 3.4 keeps every try as a task_instance row (migration 0142), keyed by its try
# (``task_instance_try_key``); the map index is stored as ``region_index`` (0144).
ATTEMPT_KEY = ("dag_id", "task_id", "run_id", "region_id", "region_index", "try_number")


@dataclass(frozen=True)
class Parent:
    """The row this row belongs with: it is imported only when its parent is."""

    table: str
    columns: Mapping[str, str]  # this table's column -> parent's column


@dataclass(frozen=True)
class TableSpec:
    """Every fact airshift keeps about one table.

    A table with a natural ``key`` is merged into targets; one without is left out of
    every import, and ``not_imported`` says why. A table listed twice (its 2.x and 3.x
    shapes) carries the same facts in both records but the shape of its keys.
    """

    name: str
    # -- the merge ---------------------------------------------------------------------
    key: tuple[str, ...] = ()  # natural key, after surrogate references are remapped
    pk: str | None = None  # surrogate key column
    generated: bool = False  # the target assigns the surrogate key (autoincrement)
    refs: Mapping[str, str] = field(default_factory=dict)  # column -> table whose pk it holds
    parent: Parent | None = None
    unique: tuple[tuple[str, ...], ...] = ()  # other unique keys a new row may collide on
    key_unique: bool = True  # False: identical rows may share the key (the audit log)
    # -- secrets -----------------------------------------------------------------------
    # Fernet-encrypted columns -> the flag column that says whether the source encrypted it.
    secrets: Mapping[str, str] = field(default_factory=dict)
    no_secrets: str | None = None  # why the table is left out when its secrets are
    redact: tuple[str, ...] = ()  # free text in which known secrets are masked on export
    cli_audit: bool = False  # Airflow's CLI writes its own rows here (they are not history)
    # -- what each step leaves out, and why ---------------------------------------------
    not_exported: str | None = None
    not_imported: str | None = None  # for a merged table: where the target no longer has it
    counted_only: str | None = None  # ``verify`` compares row counts only
    target_owned: Mapping[str, str] = field(default_factory=dict)  # column -> why not compared
    # Columns a running source rewrites every few seconds without anything happening
    # (a live scheduler's heartbeat): not compared, still copied and updated.
    live: Mapping[str, str] = field(default_factory=dict)  # column -> why
    # -- a cutover's delta: what changed in the source after the bulk copy ---------------
    # Columns that record when a row last changed: the delta exports the runs (and, for
    # tables not kept with a run, the rows) with one of them at or after the bulk copy.
    changed_at: tuple[str, ...] = ()
    # Columns that only grow as a row moves on (a cleared run's clear_number, a task's
    # try_number, then its end date), compared in this order with NULL lowest: the delta
    # updates a target row the source changed unless the target's row is the newer one.
    newer_by: tuple[str, ...] = ()

    @property
    def merged(self) -> bool:
        return bool(self.key)

    @property
    def named_by(self) -> str:
        """The column that names a row in messages: the table's one-column natural key."""
        (column,) = self.key
        return column

    @property
    def uncompared(self) -> set[str]:
        """Columns ``verify`` does not compare as stored: those the target owns, and the
        secrets (Fernet ciphertext differs on every encryption; they are compared
        decrypted instead, see ``metadata/verify.py``), and those a live source rewrites."""
        return set(self.target_owned) | set(self.secrets) | set(self.live)


# Airflow 3.4's migration 0128 rebuilds the asset queue one row per event and stamps each
# row with the moment it runs, so two upgrades of one archive differ there. The shapes of a
# table share their facts (one record each), so no shape compares it.
_QUEUED_AT = {
    "created_at": "Airflow 3.4's migration 0128 rebuilds the queue one row per asset event, "
    "each stamped with the time the migration ran"
}


def _ti_child(name: str, key: tuple[str, ...] = TI_KEY, **kw) -> TableSpec:
    return TableSpec(name, key, parent=Parent("task_instance", {c: c for c in TI_KEY}), **kw)


def _by_ti_id(
    name: str, key: tuple[str, ...] = ("ti_id",), column: str = "ti_id", **kw
) -> TableSpec:
    """A table whose rows belong with one task instance (3.4: one attempt) by its UUID."""
    return TableSpec(
        name,
        key,
        refs={column: "task_instance"},
        parent=Parent("task_instance", {column: "id"}),
        **kw,
    )


def _legacy_owned(name: str, key: tuple[str, ...] = TI_KEY, **kw) -> TableSpec:
    """3.4's renamed pre-3.4 tables (``xcom_v1``, ``rtif_v1``): their rows belong with the
    ``legacy_task_data_owner`` row of their four coordinates, which names the attempt."""
    return TableSpec(
        name, key, parent=Parent("legacy_task_data_owner", {c: c for c in TI_KEY}), **kw
    )


def _with_dataset_twin(spec: TableSpec) -> tuple[TableSpec, TableSpec]:
    """The 2.x ``dataset*`` table and its 3.x ``asset*`` rename (migration 0041): same shape."""

    def old(name: str) -> str:
        return name.replace("asset", "dataset")

    twin = replace(
        spec,
        name=old(spec.name),
        key=tuple(old(k) for k in spec.key),
        refs={old(c): old(t) for c, t in spec.refs.items()},
    )
    return twin, spec


_IN_RUN = Parent("dag_run", {c: c for c in RUN_KEY})
_NOTE_CHANGED = ("updated_at",)
_PARSED = "the target's DAG processor rewrites these rows on every parse"
_VARIABLE = TableSpec(
    "variable",
    ("key",),
    pk="id",
    generated=True,
    secrets={"val": "is_encrypted"},
    no_secrets="secrets were left out (--secrets skip): a variable is its value",
)
_TASK_INSTANCE = TableSpec(
    "task_instance",
    TI_KEY,
    refs={
        "trigger_id": "trigger",
        "queued_by_job_id": "job",
        "job_id": "job",
        "dag_version_id": "dag_version",
    },
    parent=_IN_RUN,
    target_owned={"dag_version_id": "linked to the target's DAG version on import"},
    changed_at=("queued_dttm", "start_date", "end_date", "updated_at"),
    newer_by=("try_number", "end_date"),
)

MERGE_ORDER: tuple[TableSpec, ...] = (
    TableSpec(
        "log_template",
        ("filename", "elasticsearch_id"),
        pk="id",
        generated=True,
        counted_only="the target keeps its own log templates",
    ),
    TableSpec("dag_bundle", ("name",), counted_only=_PARSED),
    TableSpec("dag", ("dag_id",), counted_only=_PARSED),
    TableSpec("dag_tag", ("dag_id", "name"), parent=Parent("dag", {"dag_id": "dag_id"})),
    TableSpec(
        "dag_owner_attributes", ("dag_id", "owner"), parent=Parent("dag", {"dag_id": "dag_id"})
    ),
    TableSpec(
        "dag_version",
        ("dag_id", "version_number"),
        pk="id",
        # A 3.x source into a target that has parsed the same DAGs: the target's version 1
        # (its own id, dates, bundle version) is kept; verify must not call it different.
        counted_only="a DAG version the target has parsed itself is the target's own",
    ),
    TableSpec(
        "slot_pool",
        ("pool",),
        pk="id",
        generated=True,
        counted_only="default_pool is the target's own",
    ),
    _VARIABLE,
    TableSpec(
        "connection",
        ("conn_id",),
        pk="id",
        generated=True,
        secrets={"password": "is_encrypted", "extra": "is_extra_encrypted"},
    ),
    TableSpec(
        "job",
        ("job_type", "dag_id", "start_date", "hostname", "unixname"),
        pk="id",
        generated=True,
        changed_at=("start_date", "end_date", "latest_heartbeat"),
        newer_by=("end_date", "latest_heartbeat"),
        live={"latest_heartbeat": "a running job (the scheduler) heartbeats every few seconds"},
    ),
    TableSpec(
        "trigger",
        ("classpath", "kwargs", "created_date"),
        pk="id",
        generated=True,
        refs={"triggerer_id": "job"},
    ),
    TableSpec(
        "backfill", ("dag_id", "from_date", "to_date", "created_at"), pk="id", generated=True
    ),
    TableSpec(
        "dag_run",
        RUN_KEY,
        pk="id",
        generated=True,
        refs={
            "log_template_id": "log_template",
            "backfill_id": "backfill",
            "created_dag_version_id": "dag_version",
            "creating_job_id": "job",
        },
        unique=(("dag_id", "logical_date"), ("dag_id", "execution_date")),
        changed_at=("queued_at", "start_date", "end_date", "updated_at"),
        newer_by=("clear_number", "end_date"),
    ),
    TableSpec(
        "backfill_dag_run",
        ("backfill_id", "dag_run_id"),
        pk="id",
        generated=True,
        refs={"backfill_id": "backfill", "dag_run_id": "dag_run"},
        parent=Parent("dag_run", {"dag_run_id": "id"}),
    ),
    # Airflow 3.4 (docs/airflow-3.4.md): the regions of dynamic task mapping, then every
    # attempt; a region's id and an attempt's UUID are kept (globally unique).
    TableSpec("dynamic_region", ("id",), pk="id", parent=_IN_RUN),
    replace(_TASK_INSTANCE, key=ATTEMPT_KEY, pk="id"),
    # task_instance: 3.x has a UUID id; 2.x is keyed by the four columns alone.
    replace(_TASK_INSTANCE, pk="id"),
    _TASK_INSTANCE,
    TableSpec(
        "dag_run_note",
        ("dag_run_id",),
        refs={"dag_run_id": "dag_run"},
        parent=Parent("dag_run", {"dag_run_id": "id"}),
        changed_at=_NOTE_CHANGED,
        newer_by=_NOTE_CHANGED,
    ),
    # task_instance_history: 3.x has a UUID per try; 2.10 a serial id the target assigns.
    *(
        _ti_child(
            "task_instance_history",
            (*TI_KEY, "try_number"),
            pk=pk,
            generated=pk == "id",
            refs={
                "queued_by_job_id": "job",
                "job_id": "job",
                "dag_version_id": "dag_version",
                "trigger_id": "trigger",
            },
        )
        for pk in ("task_instance_id", "id")
    ),
    _ti_child("task_fail", (*TI_KEY, "start_date", "end_date"), pk="id", generated=True),
    _ti_child("rendered_task_instance_fields"),
    _ti_child("task_map"),
    _ti_child(
        "xcom",
        ("dag_run_id", "task_id", "map_index", "key"),
        refs={"dag_run_id": "dag_run"},
        newer_by=("timestamp",),
    ),
    # Airflow 3.4: pre-3.4 XComs and rendered fields stay in renamed tables, owned through
    # legacy_task_data_owner (one row per migrated task instance, naming its current
    # attempt); 3.4's own are keyed by the attempt's UUID.
    _by_ti_id("legacy_task_data_owner", TI_KEY, "task_instance_id"),
    _legacy_owned("rtif_v1"),
    _legacy_owned(
        "xcom_v1", ("dag_run_id", "task_id", "map_index", "key"), refs={"dag_run_id": "dag_run"}
    ),
    _by_ti_id("xcom_v2", ("task_instance_id", "key"), "task_instance_id", pk="id"),
    _by_ti_id("rtif_v2", ("task_instance_id",), "task_instance_id", pk="id"),
    # 2.x keys notes and reschedules by the four TI columns, 3.x by ti_id; whichever the
    # revision has is used.
    _ti_child("task_instance_note", changed_at=_NOTE_CHANGED, newer_by=_NOTE_CHANGED),
    _by_ti_id("task_instance_note", changed_at=_NOTE_CHANGED, newer_by=_NOTE_CHANGED),
    _ti_child("task_reschedule", (*TI_KEY, "try_number", "start_date"), pk="id", generated=True),
    _by_ti_id("task_reschedule", ("ti_id", "start_date"), pk="id", generated=True),
    _by_ti_id("hitl_detail"),
    TableSpec(
        "sla_miss",
        ("task_id", "dag_id", "execution_date"),
        not_imported="SLAs were removed in Airflow 3; the rows stay in the archive",
    ),
    TableSpec("dataset", ("uri",), pk="id", generated=True, counted_only=_PARSED),
    TableSpec("asset", ("name", "uri"), pk="id", generated=True, counted_only=_PARSED),
    TableSpec("asset_active", ("name", "uri"), counted_only=_PARSED),
    *_with_dataset_twin(TableSpec("asset_alias", ("name",), pk="id", generated=True)),
    *_with_dataset_twin(
        TableSpec(
            "asset_event",
            (
                "asset_id",
                "timestamp",
                "source_dag_id",
                "source_run_id",
                "source_task_id",
                "source_map_index",
            ),
            pk="id",
            generated=True,
            refs={"asset_id": "asset"},
            # Events are never changed, only added: a delta takes the new ones and those a
            # taken row refers to, not the whole table (which grows with the runs).
            changed_at=("timestamp",),
        )
    ),
    *_with_dataset_twin(
        TableSpec(
            "dagrun_asset_event",
            ("dag_run_id", "event_id"),
            refs={"dag_run_id": "dag_run", "event_id": "asset_event"},
            parent=Parent("dag_run", {"dag_run_id": "id"}),
        )
    ),
    *_with_dataset_twin(
        TableSpec(
            "asset_alias_asset",
            ("alias_id", "asset_id"),
            refs={"alias_id": "asset_alias", "asset_id": "asset"},
        )
    ),
    *_with_dataset_twin(
        TableSpec(
            "asset_alias_asset_event",
            ("alias_id", "event_id"),
            refs={"alias_id": "asset_alias", "event_id": "asset_event"},
        )
    ),
    # 3.4 queues each asset event (migration 0128); before, one row per asset.
    TableSpec(
        "asset_dag_run_queue",
        ("target_dag_id", "asset_event_id"),
        refs={"asset_id": "asset", "asset_event_id": "asset_event"},
        target_owned=_QUEUED_AT,
    ),
    *_with_dataset_twin(
        TableSpec(
            "asset_dag_run_queue",
            ("asset_id", "target_dag_id"),
            refs={"asset_id": "asset"},
            target_owned=_QUEUED_AT,
        )
    ),
    TableSpec(
        "log",
        (
            "dttm",
            "event",
            "dag_id",
            "task_id",
            "run_id",
            "map_index",
            "try_number",
            "owner",
            "extra",
        ),
        pk="id",
        generated=True,
        key_unique=False,
        redact=("extra",),
        cli_audit=True,
        changed_at=("dttm",),
    ),
)

_REPARSED = "recreated by the target's DAG processor"
_OLD_SCHEDULER = "pending work of the old scheduler; it cannot run in a new environment"
_OLD_ENVIRONMENT = "pending requests of the old environment"


def _not_merged_yet(version: str) -> str:
    return (
        f"new in Airflow {version}; airshift does not merge it yet (the rows stay in the archive)"
    )


def _left_out(reason: str, *names: str) -> tuple[TableSpec, ...]:
    return tuple(TableSpec(name, not_imported=reason) for name in names)


# Tables no import merges, and why; every table airshift does not know is reported.
LEFT_OUT: tuple[TableSpec, ...] = (
    TableSpec(
        "session",
        not_exported="web UI login sessions: transient, and they hold session secrets",
        not_imported="web UI login sessions are not moved",
    ),
    TableSpec("alembic_version", not_exported="recorded in the manifest instead"),
    *_left_out(
        "DAG code is re-parsed by the target's DAG processor (Airflow's migration also deletes it)",
        "serialized_dag",
        "dag_code",
    ),
    *_left_out("removed in Airflow 3; not used since 2.0", "dag_pickle"),
    *_left_out("recomputed by the target when it parses the DAGs", "import_error", "dag_warning"),
    *_left_out(
        "pending callbacks of the old scheduler; they cannot run in a new environment",
        "callback_request",
        "callback",
    ),
    *_left_out("pending parse requests of the old environment", "dag_priority_parsing_request"),
    *_left_out(
        _REPARSED,
        "dag_schedule_dataset_reference",
        "dag_schedule_asset_reference",
        "task_outlet_dataset_reference",
        "task_outlet_asset_reference",
        "dag_schedule_dataset_alias_reference",
        "dag_schedule_asset_alias_reference",
        "dag_schedule_asset_name_reference",
        "dag_schedule_asset_uri_reference",
        "task_inlet_asset_reference",
        "asset_watcher",
        "asset_trigger",
        "deadline_alert",
    ),
    *_left_out("pickled XComs Airflow 3 cannot read (see --convert-pickled)", "_xcom_archive"),
    *_left_out("tokens of the old environment", "revoked_token"),
    *_left_out(_OLD_ENVIRONMENT, "connection_test_request"),
    *_left_out("smart sensors were removed in Airflow 2.4; " + _OLD_SCHEDULER, "sensor_instance"),
    *_left_out(
        "each deadline needs its callback, and callbacks are not moved (" + _OLD_SCHEDULER + ")",
        "deadline",
    ),
    *_left_out(
        "teams are the target's own configuration (`airflow teams create`, the bundle config)",
        "team",
        "dag_bundle_team",
        "job_team",
    ),
    *_left_out(_not_merged_yet("3.1"), "dag_favorite", "hitl_detail_history"),
    *_left_out(_not_merged_yet("3.2"), "asset_partition_dag_run", "partitioned_asset_key_log"),
    *_left_out(_not_merged_yet("3.3"), "task_state_store", "asset_state_store"),
)

# Families of tables left out of every import, by name prefix.
LEFT_OUT_PREFIXES: dict[str, str] = {
    "ab_": "users and roles belong to the target's auth manager; re-create them there",
    "_airflow_moved": "rows Airflow's own migrations set aside as invalid",
}


def _by_name(specs: tuple[TableSpec, ...]) -> dict[str, TableSpec]:
    """One record per table name: the first of its shapes (they share every other fact)."""
    out: dict[str, TableSpec] = {}
    for spec in specs:
        out.setdefault(spec.name, spec)
    return out


TABLES = _by_name((*MERGE_ORDER, *LEFT_OUT))
SECRET_TABLES: tuple[TableSpec, ...] = tuple(s for s in TABLES.values() if s.secrets)


def spec_of(name: str) -> TableSpec:
    """The record for ``name``; an unknown table gets one with no facts."""
    return TABLES.get(name) or TableSpec(name)


def import_skip_reason(name: str) -> str | None:
    """Why ``name`` is deliberately not imported, or None when it is."""
    if TABLES.get(name) and TABLES[name].not_imported:
        return TABLES[name].not_imported
    return next((r for p, r in LEFT_OUT_PREFIXES.items() if name.startswith(p)), None)


def specs_for(columns: dict[str, set[str]]) -> list[TableSpec]:
    """The merge specs that apply to a schema (table -> its column names), in load order.

    A spec applies when its table exists and has all its key, pk and parent columns; for
    tables listed twice (2.x and 3.x shapes) the first that fits wins.
    """
    chosen: dict[str, TableSpec] = {}
    for spec in MERGE_ORDER:
        cols = columns.get(spec.name)
        if cols is None or spec.name in chosen:
            continue
        needed = (
            set(spec.key)
            | ({spec.pk} if spec.pk else set())
            | set(spec.parent.columns if spec.parent else ())
        )
        if needed <= cols:
            chosen[spec.name] = spec
    return list(chosen.values())
