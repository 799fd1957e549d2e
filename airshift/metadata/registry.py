"""What airshift knows about each Airflow metadata table, in one place.

Why: column lists are not kept here (Airflow's own migrations own those, and reflection
reads them); only the facts that no schema states: the natural key that identifies a row
across databases, the surrogate key a target assigns anew, which columns point at another
table's surrogate key, which parent row a row belongs with, which columns hold secrets,
and which tables are deliberately left out of an import, with the reason.

Names cover Airflow 2.x and 3.x; entries whose columns a given revision lacks are
ignored for that revision. Order matters: parents come before children.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Columns that hold Fernet-encrypted secrets, with the flag column that says whether the
# source had them encrypted.
SECRET_COLUMNS: dict[str, dict[str, str]] = {
    "variable": {"val": "is_encrypted"},
    "connection": {"password": "is_encrypted", "extra": "is_extra_encrypted"},
}

# Why an import without secrets (--secrets skip, or an archive made without them) leaves
# the variables out entirely.
SECRETS_LEFT_OUT = "secrets were left out (--secrets skip): a variable is its value"

# Tables not exported at all: transient and sensitive, with no history in them.
EXPORT_SKIP: dict[str, str] = {
    "session": "web UI login sessions: transient, and they hold session secrets",
    "alembic_version": "recorded in the manifest instead",
}

TI_KEY = ("dag_id", "task_id", "run_id", "map_index")
RUN_KEY = ("dag_id", "run_id")


@dataclass(frozen=True)
class Parent:
    """The row this row belongs with: it is imported only when its parent is."""

    table: str
    columns: dict[str, str]  # this table's column -> parent's column


@dataclass(frozen=True)
class TableSpec:
    """Merge facts for one table."""

    name: str
    key: tuple[str, ...]  # natural key, after surrogate references are remapped
    pk: str | None = None  # surrogate key column
    generated: bool = False  # the target assigns the surrogate key (autoincrement)
    refs: dict[str, str] = field(default_factory=dict)  # column -> table whose pk it holds
    parent: Parent | None = None
    unique: tuple[tuple[str, ...], ...] = ()  # other unique keys a new row may collide on
    key_unique: bool = True  # False: identical rows may share the key (the audit log)


def _ti_child(name: str, key: tuple[str, ...] = TI_KEY, **kw) -> TableSpec:
    return TableSpec(name, key, parent=Parent("task_instance", {c: c for c in TI_KEY}), **kw)


def _by_ti_id(name: str, key: tuple[str, ...] = ("ti_id",), **kw) -> TableSpec:
    return TableSpec(
        name,
        key,
        refs={"ti_id": "task_instance"},
        parent=Parent("task_instance", {"ti_id": "id"}),
        **kw,
    )


def _with_dataset_twin(spec: TableSpec) -> tuple[TableSpec, TableSpec]:
    """The 2.x ``dataset*`` table and its 3.x ``asset*`` rename (migration 0041): same shape."""

    def old(name: str) -> str:
        return name.replace("asset", "dataset")

    twin = TableSpec(
        old(spec.name),
        tuple(old(k) for k in spec.key),
        spec.pk,
        spec.generated,
        {old(c): old(t) for c, t in spec.refs.items()},
        spec.parent,
        spec.unique,
    )
    return twin, spec


MERGE_ORDER: tuple[TableSpec, ...] = (
    TableSpec("log_template", ("filename", "elasticsearch_id"), pk="id", generated=True),
    TableSpec("dag_bundle", ("name",)),
    TableSpec("dag", ("dag_id",)),
    TableSpec("dag_tag", ("dag_id", "name"), parent=Parent("dag", {"dag_id": "dag_id"})),
    TableSpec(
        "dag_owner_attributes", ("dag_id", "owner"), parent=Parent("dag", {"dag_id": "dag_id"})
    ),
    TableSpec("dag_version", ("dag_id", "version_number"), pk="id"),
    TableSpec("slot_pool", ("pool",), pk="id", generated=True),
    TableSpec("variable", ("key",), pk="id", generated=True),
    TableSpec("connection", ("conn_id",), pk="id", generated=True),
    TableSpec(
        "job", ("job_type", "dag_id", "start_date", "hostname", "unixname"), pk="id", generated=True
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
    ),
    TableSpec(
        "backfill_dag_run",
        ("backfill_id", "dag_run_id"),
        pk="id",
        generated=True,
        refs={"backfill_id": "backfill", "dag_run_id": "dag_run"},
        parent=Parent("dag_run", {"dag_run_id": "id"}),
    ),
    # task_instance: 3.x has a UUID id; 2.x is keyed by the four columns alone.
    *(
        TableSpec(
            "task_instance",
            TI_KEY,
            pk=pk,
            refs={
                "trigger_id": "trigger",
                "queued_by_job_id": "job",
                "job_id": "job",
                "dag_version_id": "dag_version",
            },
            parent=Parent("dag_run", {"dag_id": "dag_id", "run_id": "run_id"}),
        )
        for pk in ("id", None)
    ),
    TableSpec(
        "dag_run_note",
        ("dag_run_id",),
        refs={"dag_run_id": "dag_run"},
        parent=Parent("dag_run", {"dag_run_id": "id"}),
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
        "xcom", ("dag_run_id", "task_id", "map_index", "key"), refs={"dag_run_id": "dag_run"}
    ),
    # 2.x keys notes and reschedules by the four TI columns, 3.x by ti_id; whichever the
    # revision has is used.
    _ti_child("task_instance_note"),
    _by_ti_id("task_instance_note"),
    _ti_child("task_reschedule", (*TI_KEY, "try_number", "start_date"), pk="id", generated=True),
    _by_ti_id("task_reschedule", ("ti_id", "start_date"), pk="id", generated=True),
    _by_ti_id("hitl_detail"),
    TableSpec("sla_miss", ("task_id", "dag_id", "execution_date")),
    TableSpec("dataset", ("uri",), pk="id", generated=True),
    TableSpec("asset", ("name", "uri"), pk="id", generated=True),
    TableSpec("asset_active", ("name", "uri")),
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
    *_with_dataset_twin(
        TableSpec("asset_dag_run_queue", ("asset_id", "target_dag_id"), refs={"asset_id": "asset"})
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
    ),
)

# Tables an import leaves out on purpose, and why; every other unknown table is reported.
IMPORT_SKIP: dict[str, str] = {
    "serialized_dag": "DAG code is re-parsed by the target's DAG processor (Airflow's migration also deletes it)",
    "dag_code": "DAG code is re-parsed by the target's DAG processor (Airflow's migration also deletes it)",
    "dag_pickle": "removed in Airflow 3; not used since 2.0",
    "import_error": "recomputed by the target when it parses the DAGs",
    "dag_warning": "recomputed by the target when it parses the DAGs",
    "callback_request": "pending callbacks of the old scheduler; they cannot run in a new environment",
    "callback": "pending callbacks of the old scheduler; they cannot run in a new environment",
    "dag_priority_parsing_request": "pending parse requests of the old environment",
    "dag_schedule_dataset_reference": "recreated by the target's DAG processor",
    "dag_schedule_asset_reference": "recreated by the target's DAG processor",
    "task_outlet_dataset_reference": "recreated by the target's DAG processor",
    "task_outlet_asset_reference": "recreated by the target's DAG processor",
    "dag_schedule_dataset_alias_reference": "recreated by the target's DAG processor",
    "dag_schedule_asset_alias_reference": "recreated by the target's DAG processor",
    "dag_schedule_asset_name_reference": "recreated by the target's DAG processor",
    "dag_schedule_asset_uri_reference": "recreated by the target's DAG processor",
    "task_inlet_asset_reference": "recreated by the target's DAG processor",
    "asset_watcher": "recreated by the target's DAG processor",
    "deadline_alert": "recreated by the target's DAG processor",
    "_xcom_archive": "pickled XComs Airflow 3 cannot read (see --convert-pickled)",
    "session": "web UI login sessions are not moved",
    "sla_miss": "SLAs were removed in Airflow 3; the rows stay in the archive",
    "revoked_token": "tokens of the old environment",
    "connection_test_request": "pending requests of the old environment",
}
IMPORT_SKIP_PREFIXES: dict[str, str] = {
    "ab_": "users and roles belong to the target's auth manager; re-create them there",
    "_airflow_moved": "rows Airflow's own migrations set aside as invalid",
}


# What ``verify`` does not compare, because the target owns it: "*" counts rows only.
VERIFY_IGNORE: dict[str, set[str] | str] = {
    "dag": "*",  # the target's DAG processor rewrites these rows on every parse
    "dag_bundle": "*",
    "slot_pool": "*",  # default_pool is the target's own
    "log_template": "*",
    "asset": "*",
    "asset_active": "*",
    "task_instance": {"dag_version_id"},  # linked to the target's DAG version on import
    # Fernet ciphertext differs on every encryption: secrets are compared decrypted instead.
    **{table: set(cols) for table, cols in SECRET_COLUMNS.items()},
}


def import_skip_reason(table: str) -> str | None:
    """Why ``table`` is deliberately not imported, or None when it is."""
    if table in IMPORT_SKIP:
        return IMPORT_SKIP[table]
    return next((r for p, r in IMPORT_SKIP_PREFIXES.items() if table.startswith(p)), None)


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
