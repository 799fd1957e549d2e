"""The scratch database: where Airflow's own migrations transform archived rows.

Why: the only faithful way to move rows between schema revisions is to let Airflow's
Alembic migrations do it. airshift builds an empty database at the archive's revision
with the Airflow release that has that schema, loads the archive into it, and runs the
target release's ``airflow db migrate`` on it. The scratch lives on the target's own
server (so types match the target exactly) or in a temp folder for SQLite, and is
always dropped afterwards, also on failure.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from airshift import airflow_env, db, versions
from airshift.archive import ArchiveReader
from airshift.backends.base import ServerBackend
from airshift.errors import AirflowCommandFailed, AirshiftError
from airshift.metadata.load import archive_codec, write_archive_table
from airshift.metadata.registry import spec_of
from airshift.metadata.source import AirflowDB
from airshift.progress import NULL_PROGRESS, Log, Progress, null_log


@dataclass
class LoadReport:
    """What went into the scratch database, and what could not."""

    loaded: dict[str, int] = field(default_factory=dict)
    not_loaded: dict[str, str] = field(default_factory=dict)  # table -> reason
    dropped_columns: dict[str, list[str]] = field(default_factory=dict)


def scratch_prefix(target_url: str) -> str:
    """How the scratch databases made for one target database begin: each names its target
    (by a digest), so that what one import leaves behind can be told from another's."""
    target = db.parse_url(target_url).database or ""
    return f"airshift_scratch_{hashlib.sha256(target.encode()).hexdigest()[:8]}_"


@contextlib.contextmanager
def scratch_database(
    target_url: str,
    scratch_url: str | None = None,
    log: Log = null_log,
    in_target: bool = False,
    copy_of: str | None = None,
) -> Iterator[str]:
    """A new empty database for the scratch work; dropped on exit, whatever happens (and,
    after a kill, by the next run for the same target). ``in_target``: a new schema of the
    target database itself, for where no other database can be created (a managed
    database, the agent inside Amazon MWAA). ``copy_of``: made as a copy of that database
    (``kept_template``), not empty. The URL yielded carries the session settings of a
    disposable database (``Backend.scratch_session``), so Airflow's migrations get them too."""
    if scratch_url:
        yield db.backend_of(scratch_url).scratch_session(scratch_url)
        return
    backend = db.backend_of(target_url)
    parsed, prefix = db.parse_url(target_url), scratch_prefix(target_url)
    if in_target:
        with backend.scratch_schema(parsed, prefix, log) as url:
            yield backend.scratch_session(url)
        return
    with backend.scratch_database(parsed, prefix, log, copy_of) as url:
        yield backend.scratch_session(url)


def _db_migrate(env: airflow_env.AirflowEnv, args: list[str], url: str, home: Path) -> None:
    db.backend_of(url).db_migrate(env, args, url, home)


def _to(env: airflow_env.AirflowEnv, revision: str) -> list[str]:
    """``db migrate``'s arguments that take a database to ``revision`` with ``env``. An
    Airflow this process is confined to (the agent's) must have the revision in its own
    chain: Airflow 3's starts at the squashed 2.6.2 base, so it builds any 2.7+ schema."""
    if airflow_env.confined() is env and not versions.can_upgrade(env.version, revision):
        raise AirshiftError(
            f"The environment's Airflow {env.version} cannot build a schema at "
            f"{versions.describe(revision).label} ({revision}): its migrations start later. "
            "Upgrade the archive on your machine instead (`--upgrade-in here`)."
        )
    return [] if versions.head_of(env.version) == revision else ["-r", revision]


def build_at(revision: str, url: str, home: Path, log: Log = null_log) -> airflow_env.AirflowEnv:
    """Create Airflow's schema at ``revision`` in the empty database ``url``."""
    env = airflow_env.confined()
    if env is None:
        exact = versions.releases_at(revision)
        release = airflow_env.prefer_installed(exact) if exact else versions.release_for(revision)
        env = airflow_env.ensure(release, log=log)
    _db_migrate(env, _to(env, revision), url, home)
    return env


def template_name(target_url: str, revision: str) -> str:
    """Where an empty schema at ``revision`` is kept for the imports into one target (a
    cutover's bulk phase keeps it for its delta); not under ``scratch_prefix``, so that no
    import takes it for an interrupted run's leftover."""
    digest = scratch_prefix(target_url).removeprefix("airshift_scratch_")
    return f"airshift_template_{digest}{revision}"


def kept_template(url: str, template: str | None) -> str | None:
    """``template``, if the server of ``url`` copies databases and holds it (an empty
    schema an earlier build kept, ``build_or_copy``); else None."""
    backend = db.backend_of(url)
    if template is None or not isinstance(backend, ServerBackend) or not backend.copies_databases:
        return None
    engine = db.engine_for(url)
    try:
        with engine.connect() as conn:
            listed = conn.execute(sa.text(backend.list_databases_sql)).scalars()
            return template if template in set(listed) else None
    finally:
        engine.dispose()


def build_or_copy(
    revision: str, url: str, home: Path, template: str | None, log: Log = null_log
) -> None:
    """``build_at``, or, where the server copies databases, a copy of ``template`` (an
    empty schema at ``revision`` an earlier build kept there): Airflow's CLI builds the
    same schema in seconds, a copy takes a fraction of one, which counts when the rows
    are few (a cutover's delta). Without a template yet, the build keeps one. (A scratch
    made by ``scratch_database(copy_of=...)`` is that copy already: no need to call this.)"""
    if kept_template(url, template):
        assert template is not None
        log(f"copying the empty schema at {revision} kept in {template}")
        name = db.parse_url(url).database or ""
        db.drop_database(url, name)
        db.create_database(url, name, template)
        return
    build_at(revision, url, home, log=log)
    if template is not None and db.backend_of(url).copies_databases:
        db.create_database(url, template, db.parse_url(url).database)


def drop_template(target_url: str, revision: str) -> None:
    """Drop the schema ``build_or_copy`` kept for ``revision``, if any."""
    if db.backend_of(target_url).copies_databases:
        db.drop_database(target_url, template_name(target_url, revision))


def migrate_to(
    release: str,
    revision: str,
    url: str,
    home: Path,
    log: Log = null_log,
    ahead: airflow_env.Ahead | None = None,
) -> None:
    """Run ``release``'s own migrations (or the confined Airflow's) on the scratch database
    up to ``revision``; with ``ahead``, that very command started earlier (``migration_ahead``)."""
    if ahead is not None:
        try:
            ahead.run()
            return
        except AirflowCommandFailed as exc:  # mended (a table made logged): run it again
            if not db.backend_of(url).mend_migration(url, exc):
                raise
    env = airflow_env.confined() or airflow_env.ensure(release, log=log)
    _db_migrate(env, _to(env, revision), url, home)


@contextlib.contextmanager
def migration_ahead(
    release: str, revision: str, url: str, home: Path, log: Log = null_log
) -> Iterator[airflow_env.Ahead | None]:
    """``migrate_to``'s Airflow process, started now (``AirflowEnv.ahead``): its seconds of
    importing Airflow overlap the scratch's building and loading. None on SQLite, whose
    migrations run through a script of their own (``SQLite.db_migrate``)."""
    if not isinstance(db.backend_of(url), ServerBackend):
        yield None
        return
    env = airflow_env.confined() or airflow_env.ensure(release, log=log)
    with env.ahead(["db", "migrate", *_to(env, revision)], home, url) as ahead:
        yield ahead


# A table is loaded UNLOGGED only from this many rows: below it the write-ahead log it
# saves is milliseconds, while a table that a later migration makes referenced under a
# new name (2.x's ``callback_request``, 3.x's ``callback``), which no target table name
# reveals, costs a second run of Airflow's ``db migrate`` (``PostgreSQL.mend_migration``):
# seconds of a cutover's delta, for nothing. (Setting indexes aside still pays on a
# delta's tens of thousands of rows: loading them with indexes and foreign keys in place
# took 6.6 s instead of 1.9.)
UNLOG_FROM_ROWS = 50_000


def load_archive(
    reader: ArchiveReader,
    scratch: AirflowDB,
    archive_key: str | None,
    target_fernet_key: str | None,
    progress: Progress = NULL_PROGRESS,
    skip_secrets: bool = False,
    jobs: int = 1,
    keep_logged: frozenset[str] | None = None,
) -> LoadReport:
    """Replace the scratch's rows with the archive's, parents before children, ``jobs``
    tables at a time. ``keep_logged``: tables the target's schema references, which the
    load must not make UNLOGGED (``Backend.bulk_load``); None when that schema is unknown.

    Secrets are opened with the archive key and sealed with the target's Fernet key, so
    the scratch (on disk) never holds them in plaintext.
    """
    report = LoadReport()
    md = scratch.metadata
    present = [t for t in md.sorted_tables if t.name in reader.manifest.tables]
    for name in reader.manifest.tables:
        if name not in md.tables:
            report.not_loaded[name] = (
                f"no such table in the schema at revision {scratch.revision.revision}"
            )
    skip_secrets = skip_secrets or reader.manifest.secrets.get("mode") != "sealed"
    codec = None if skip_secrets else archive_codec(reader, archive_key, target_fernet_key)
    if skip_secrets:
        left_out = {n: reason for n in reader.manifest.tables if (reason := spec_of(n).no_secrets)}
        report.not_loaded |= left_out
        present = [t for t in present if t.name not in left_out]
    with scratch.engine.begin() as conn:
        for table in reversed(present):
            conn.execute(table.delete())

    def load(table: sa.Table) -> None:
        entry = reader.manifest.tables[table.name]
        names = [c["name"] for c in entry.columns if c["name"] in table.c]
        missing = [c["name"] for c in entry.columns if c["name"] not in table.c]
        if missing:
            report.dropped_columns[table.name] = missing
        progress.update(f"load {table.name}", total=entry.rows)
        with scratch.engine.begin() as conn:
            report.loaded[table.name] = write_archive_table(
                conn,
                reader,
                table.name,
                table,
                names,
                codec,
                on_batch=lambda n: progress.update(f"load {table.name}", n),
            )

    # One transaction per table (the scratch is private: a failure discards it whole), so
    # tables whose parents are loaded can go in at once; with foreign keys and plain
    # indexes set aside (PostgreSQL), all of them can.
    backend = scratch.backend
    jobs = max(1, jobs) if backend.concurrent_writers else 1
    rows = {t.name: reader.manifest.tables[t.name].rows for t in present}
    unlogged = [n for n, r in rows.items() if n not in (keep_logged or ()) and r >= UNLOG_FROM_ROWS]
    with (
        backend.bulk_load(scratch.engine, [t for t in present if rows[t.name]], unlogged),
        ThreadPoolExecutor(max_workers=jobs) as pool,
    ):
        levels = [present] if backend.sets_indexes_aside else fk_levels(present)
        for level in levels:
            big_first = sorted(level, key=lambda t: -rows[t.name])
            for f in [pool.submit(load, t) for t in big_first]:
                f.result()
    return report


def fk_levels(tables: list[sa.Table]) -> list[list[sa.Table]]:
    """``tables`` grouped so that every table comes after the tables it references."""
    level: dict[str, int] = {}
    for t in tables:  # sorted_tables order: referenced tables come first
        parents = {fk.column.table.name for fk in t.foreign_keys} - {t.name}
        level[t.name] = 1 + max((level.get(p, -1) for p in parents), default=-1)
    out: list[list[sa.Table]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
    for t in tables:
        out[level[t.name]].append(t)
    return out


def max_id(sdb: AirflowDB, table: str) -> int:
    t = sdb.metadata.tables[table]
    with sdb.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.coalesce(sa.func.max(t.c.id), 0))).scalar_one()


def delete_newer(sdb: AirflowDB, table: str, last_id: int) -> int:
    """Remove rows the migration tools added after the archive was loaded."""
    t = sa.Table(table, sa.MetaData(), autoload_with=sdb.engine)
    with sdb.engine.begin() as conn:
        return conn.execute(sa.delete(t).where(t.c.id > last_id)).rowcount
