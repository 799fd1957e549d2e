"""Import an archive into a live target: scratch upgrade, merge, pause handling, report.

Why a scratch detour: it lets Airflow's own migrations do every transformation between
revisions. When the archive is already at the target's revision there is nothing for them
to do, so the archive's rows go straight into the merge's staging tables (typed by the
target's own columns either way); ``verify`` still compares through a scratch database,
which also decrypts the secrets with the target's key.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import sqlalchemy as sa

from airshift import airflow_env, versions
from airshift.archive import ArchiveReader, Manifest
from airshift.choices import ExportSecrets, OnConflict, Unpause
from airshift.errors import AirshiftError, TargetTooOld, UnknownRevision
from airshift.metadata import losses, pause, roles, scratch
from airshift.metadata.extract import ExportSettings, export
from airshift.metadata.inspect import migration_issues
from airshift.metadata.load import archive_codec
from airshift.metadata.merge import MergeResult, merge
from airshift.metadata.registry import SECRET_TABLES, TABLES, spec_of
from airshift.metadata.rows_from import ArchiveRows, RowSource, ScratchRows, WithoutTables
from airshift.metadata.source import AirflowDB
from airshift.metadata.verify import check_target_key, compare_secrets
from airshift.progress import NULL_PROGRESS, Log, Progress, null_log

# The last 2.x head: every 2.x database passes through it on the way to 3.x.
LAST_2X_HEAD = "5f2621c13b39"
# The newest schema the merge knows (Airflow 3.4.0b2: every try a task_instance row, XComs
# in new tables, see docs/airflow-3.4.md). A newer Airflow may change what a row means the
# way 3.4 did: merged with older facts, its task instances could be left out while the
# import still succeeded, so it is refused until its tables are known.
NEWEST_MERGEABLE_HEAD = "9cffe90fa0c0"


# The steps an import or upgrade reports its time for, in the order they run.
PHASES = {
    "export": "source rows read into the archive (airshift; `migrate` only)",
    "scratch_build": "empty scratch schema built at the archive's revision (Airflow's CLI)",
    "scratch_load": "archive rows loaded into the scratch (airshift)",
    "between_majors": "2.x -> 3.x: task_fail kept as history, losses counted (airshift)",
    "airflow_migrations": "Airflow's own `db migrate` on the scratch",
    "read_back": "upgraded rows written as the new archive (airshift)",
    "merge": "merged into the target in one transaction (airshift)",
}


@dataclass
class ImportSettings:
    """How the import pipeline runs (the library API resolves them from its options)."""

    archive_key: str | None = None
    target_fernet_key: str | None = None
    on_conflict: OnConflict = OnConflict.SKIP
    dry_run: bool = False
    unpause: Unpause = Unpause.SOURCE_STATE
    scratch_url: str | None = None
    scratch_in_target: bool = False  # the scratch is a schema of the target database
    skip_secrets: bool = False
    convert_pickled: bool = False
    link_dag_versions: bool = True
    jobs: int = 1  # tables loaded at once into the scratch database
    online: bool = False  # never lock a target table (see merge._Merger._bulk)
    # A database on the target's server holding an empty schema at the archive's revision,
    # copied instead of built (made by the first import that builds one; scratch.build_or_copy).
    scratch_template: str | None = None
    # Where connections and variables go instead of the target's tables (their secrets
    # are then neither opened nor written here): the reason the report gives.
    secrets_elsewhere: str | None = None
    # Called once the empty schema at the archive's revision is kept (``scratch_template``):
    # a cutover then makes its delta's scratch, a copy of it, while the bulk phase goes on.
    template_kept: Callable[[], None] | None = None


@dataclass
class ImportResult:
    """What an import (or an upgrade, or a verify) did, table by table."""

    source_revision: str
    target_revision: str
    archived: dict[str, int]
    loaded: dict[str, int]
    not_loaded: dict[str, str]
    losses: dict[str, dict] = field(default_factory=dict)
    improvements: dict[str, int] = field(default_factory=dict)
    merge: MergeResult | None = None
    dags_not_deployed: list[str] = field(default_factory=list)
    pause_states: dict[str, bool] = field(default_factory=dict)
    # custom FAB roles the archive holds (not imported: re-create them), with permissions
    custom_roles: dict[str, list[str]] = field(default_factory=dict)
    # Wall seconds per step (``PHASES``): what is Airflow's own migration time and what
    # is airshift's, in every report (issue #17).
    seconds: dict[str, float] = field(default_factory=dict)

    @contextlib.contextmanager
    def timed(self, phase: str) -> Iterator[None]:
        """Add the wall time of the block to ``phase`` (also when it fails)."""
        t0 = time.monotonic()
        try:
            yield
        finally:
            spent = time.monotonic() - t0
            self.seconds[phase] = round(self.seconds.get(phase, 0.0) + spent, 3)

    def as_dict(self) -> dict:
        d = {k: v for k, v in self.__dict__.items() if k != "merge"}
        return d | {"merge": self.merge.as_dict() if self.merge else None}


def _release_for(revision: str) -> str:
    exact = versions.releases_at(revision)
    return airflow_env.prefer_installed(exact) if exact else versions.release_for(revision)


def check_direction(source_rev: str, target_rev: str) -> None:
    if source_rev != target_rev and versions.is_older(target_rev, source_rev):
        raise TargetTooOld(
            f"The target ({versions.describe(target_rev).label}) is older than the archive's "
            f"source ({versions.describe(source_rev).label}). airshift moves history forward "
            "only; upgrade the target first."
        )


def check_mergeable(target_rev: str) -> None:
    """Refuse a target whose schema is newer than the merge knows, before anything is done."""
    if versions.is_older(NEWEST_MERGEABLE_HEAD, target_rev):
        newest = versions.describe(NEWEST_MERGEABLE_HEAD).label
        raise AirshiftError(
            f"The target is at {versions.describe(target_rev).label}, newer than this airshift "
            f"can import into ({newest} at most): its task instances, tries and XComs would "
            "not be imported. Nothing was changed. `airshift upgrade --to` still prepares an "
            "archive for it."
        )


@dataclass(frozen=True)
class Scratch:
    """A scratch database made, and the target release's migration started
    (``migration_ahead``), before the archive's rows are loaded (``scratch_for``)."""

    url: str
    home: Path  # Airflow's home for the commands run on it
    template: str | None  # where an empty schema at the archive's revision is kept
    copy_of: str | None  # that template, if the scratch was made as a copy of it
    ahead: airflow_env.Ahead | None
    # Opened when made as a copy (its schema is there at once), so that its tables can be
    # reflected ahead (``AirflowDB.reflect_ahead``); else opened once it is built.
    db: AirflowDB | None = None


@contextlib.contextmanager
def scratch_for(
    target_url: str, src_rev: str, target_rev: str, opts: ImportSettings, log: Log
) -> Iterator[Scratch]:
    """The scratch that takes rows at ``src_rev`` to ``target_rev``, dropped on exit.

    Apart from ``upgraded_scratch`` so that ``migrate`` can enter it before it exports:
    creating the database and importing Airflow for its migration then overlap the
    export (a cutover's delta spent a second of its downtime waiting for them)."""
    # a template is a database of its own: never for a scratch that is a schema
    template = None if opts.scratch_in_target else opts.scratch_template
    # Made as a copy of the kept template at once (not made empty, dropped and copied:
    # each DROP DATABASE cost the delta seconds on a busy server), unless the scratch is given.
    copy = None if opts.scratch_url else scratch.kept_template(target_url, template)
    with (
        scratch.scratch_database(
            target_url, opts.scratch_url, log, opts.scratch_in_target, copy
        ) as surl,
        tempfile.TemporaryDirectory() as home,
        (
            scratch.migration_ahead(_release_for(target_rev), target_rev, surl, Path(home) / "to")
            if src_rev != target_rev
            else contextlib.nullcontext()
        ) as ahead,
    ):
        sdb = AirflowDB.open(surl) if copy else None
        try:
            yield Scratch(surl, Path(home), template, copy, ahead, sdb)
        finally:
            if sdb is not None:
                sdb.dispose()


@contextlib.contextmanager
def upgraded_scratch(
    reader: ArchiveReader,
    target_url: str,
    target_rev: str,
    opts: ImportSettings,
    report: ImportResult,
    progress: Progress,
    log: Log,
    target_schema: sa.MetaData | None = None,
    made: Scratch | None = None,
) -> Iterator[AirflowDB]:
    """The archive's rows in a scratch database, migrated by Airflow to ``target_rev``
    (``target_schema``: the target's tables, where there is a target; ``made``: the
    scratch ``scratch_for`` made for this archive ahead, else it is made here)."""
    src_rev = reader.manifest.source["alembic_revision"]
    with (
        contextlib.nullcontext(made)
        if made
        else scratch_for(target_url, src_rev, target_rev, opts, log)
    ) as made:
        if made.copy_of:
            log(
                f"the scratch database is a copy of the empty schema at {src_rev} kept in {made.copy_of}"
            )
        else:
            log(f"building a scratch database at {versions.describe(src_rev).label}")
            with report.timed("scratch_build"):
                scratch.build_or_copy(src_rev, made.url, made.home, made.template, log=log)
        if opts.template_kept and (made.copy_of or scratch.kept_template(made.url, made.template)):
            opts.template_kept()
        sdb = made.db or AirflowDB.open(made.url)
        try:
            with report.timed("scratch_load"):
                loaded = scratch.load_archive(
                    reader,
                    sdb,
                    opts.archive_key,
                    opts.target_fernet_key,
                    progress,
                    skip_secrets=opts.skip_secrets,
                    jobs=opts.jobs,
                    keep_logged=None if target_schema is None else referenced(target_schema),
                )
            report.loaded, report.not_loaded = loaded.loaded, loaded.not_loaded
            audited = {n: scratch.max_id(sdb, n) for n, s in TABLES.items() if s.cli_audit}
            if sdb.revision.major < 3 <= versions.describe(target_rev).major:
                sdb = _prepare_2x_for_3(sdb, made.home, opts, report, log)
            if sdb.revision.revision != target_rev:
                release = _release_for(target_rev)
                log(f"upgrading the scratch database with Airflow {release}'s own migrations")
                with report.timed("airflow_migrations"):
                    sdb = _migrated(sdb, release, target_rev, made.home, log, made.ahead)
            # Airflow's CLI audits its own `db migrate` in the log table: not source history.
            for name, last_id in audited.items():
                scratch.delete_newer(sdb, name, last_id)
            yield sdb
        finally:
            sdb.dispose()


def referenced(schema: sa.MetaData) -> frozenset[str]:
    """The tables of ``schema`` another table's foreign key points at."""
    return frozenset(
        fk.column.table.name
        for t in schema.tables.values()
        for fk in t.foreign_keys
        if fk.column.table is not t
    )


def _new_report(reader: ArchiveReader, target_rev: str) -> ImportResult:
    reader.require_intact()
    src_rev = reader.manifest.source["alembic_revision"]
    check_direction(src_rev, target_rev)
    return ImportResult(
        src_rev,
        target_rev,
        {n: t.rows for n, t in reader.manifest.tables.items()},
        {},
        {},
        custom_roles=roles.custom_roles(reader),
    )


def import_archive(
    reader: ArchiveReader,
    target: AirflowDB,
    opts: ImportSettings,
    progress: Progress = NULL_PROGRESS,
    log: Log = null_log,
    verify_only: bool = False,
    made: Scratch | None = None,
) -> ImportResult:
    """Import ``reader`` into ``target``; with ``verify_only``, compare and change nothing
    (``made``: the scratch ``scratch_for`` made for it ahead)."""
    check_mergeable(target.revision.revision)
    report = _new_report(reader, target.revision.revision)
    sealed = reader.manifest.secrets.get("mode") == "sealed" and not opts.skip_secrets
    if sealed and opts.target_fernet_key:
        check_target_key(target, opts.target_fernet_key)
    if report.source_revision == report.target_revision and not verify_only:
        # Nothing to migrate: the archive's rows go straight into the merge.
        codec = archive_codec(reader, opts.archive_key, opts.target_fernet_key) if sealed else None
        rows = ArchiveRows(reader, codec)
        report.loaded = {n: reader.manifest.tables[n].rows for n in rows.columns()}
        report.not_loaded = {
            n: reason
            for n in set(reader.manifest.tables) - set(rows.columns())
            if (reason := spec_of(n).no_secrets)
        }
        with report.timed("merge"):
            report.merge = _merge_with_pause(reader, rows, target, opts, report, progress)
        return report
    with upgraded_scratch(
        reader,
        target.url,
        target.revision.revision,
        opts,
        report,
        progress,
        log,
        target.metadata,
        made,
    ) as sdb:
        if verify_only:
            report.merge = merge(ScratchRows(sdb), target, progress=progress, verify=True)
            if opts.target_fernet_key and not opts.skip_secrets:
                compare_secrets(sdb, target, opts.target_fernet_key, report.merge)
        else:
            with report.timed("merge"):
                report.merge = _merge_with_pause(
                    reader, ScratchRows(sdb), target, opts, report, progress
                )
    return report


def upgrade_archive(
    reader: ArchiveReader,
    release: str,
    out_url: str,
    opts: ImportSettings,
    progress: Progress = NULL_PROGRESS,
    log: Log = null_log,
) -> tuple[ImportResult, Manifest]:
    """Write a new archive holding ``reader``'s rows migrated to ``release``'s schema.

    The secrets stay sealed with the same archive key, so the new archive can be
    imported many times without repeating the upgrade.
    """
    target_rev = versions.head_of(release)
    if target_rev is None:
        raise UnknownRevision(f"airshift does not know the schema of Airflow {release}.")
    report = _new_report(reader, target_rev)
    sealed = reader.manifest.secrets.get("mode") == "sealed" and not opts.skip_secrets
    opts.target_fernet_key = opts.archive_key if sealed else None
    with (
        upgraded_scratch(
            reader, "sqlite:///upgrade", target_rev, opts, report, progress, log
        ) as sdb,
        report.timed("read_back"),
    ):
        result = export(
            sdb,
            ExportSettings(
                archive_url=out_url,
                fernet_key=opts.archive_key if sealed else None,
                archive_key=opts.archive_key if sealed else None,
                secrets=ExportSecrets.SEAL if sealed else ExportSecrets.SKIP,
                origin={
                    **reader.manifest.source,
                    "upgrade": {"losses": report.losses, "improvements": report.improvements},
                },
                pause_state=reader.manifest.pause_state,
                # One reader: the scratch load leaves ~210 MB held, and each concurrent
                # reader's batches and Parquet writer came on top of it (medium: 334 MB
                # at two, 256 at one, for ~2 s more; docs/benchmarks.md, run 16).
                jobs=1,
            ),
            progress,
        )
    return report, result.manifest


def _migrated(
    sdb: AirflowDB,
    release: str,
    revision: str,
    home: Path,
    log: Log,
    ahead: airflow_env.Ahead | None = None,
) -> AirflowDB:
    """``sdb`` migrated to ``revision`` by ``release``'s own migrations (``ahead``: by that
    command, started earlier), opened anew (its schema changed under the old handle)."""
    scratch.migrate_to(release, revision, sdb.url, home, log=log, ahead=ahead)
    sdb.dispose()
    return AirflowDB.open(sdb.url)


def _prepare_2x_for_3(
    sdb: AirflowDB,
    home: Path,
    opts: ImportSettings,
    report: ImportResult,
    log: Log,
) -> AirflowDB:
    """Bring a 2.x scratch to the last 2.x head, count what 3.x drops, keep what we can.

    Returns the scratch opened anew at that head (its schema changed under the old handle).
    """
    if sdb.revision.revision != LAST_2X_HEAD:
        release = _release_for(LAST_2X_HEAD)
        log(f"upgrading the scratch database to the last 2.x schema with Airflow {release}")
        with report.timed("airflow_migrations"):
            sdb = _migrated(sdb, release, LAST_2X_HEAD, home, log)
    with report.timed("between_majors"):
        with sdb.engine.begin() as conn:
            kept = losses.task_fail_to_history(conn, sdb)
        report.improvements["task_instance_history_from_task_fail"] = kept
        if opts.convert_pickled:
            report.improvements["pickled_xcoms_converted"] = losses.convert_pickled_xcoms(
                sdb, sdb.url, home, _release_for(LAST_2X_HEAD)
            )
        with sdb.engine.connect() as conn:
            issues = migration_issues(sdb, conn)
    report.losses = losses.describe_losses(
        issues, converted=report.improvements.get("pickled_xcoms_converted", 0)
    )
    return sdb


def _archive_values(reader: ArchiveReader, table: str, columns: list[str]) -> set[tuple]:
    """The distinct values of a few columns of an archive table (dag ids, pause flags):
    deduplicated batch by batch in Arrow, so memory follows the DAGs, not the runs."""
    if table not in reader.manifest.tables:
        return set()
    out: set[tuple] = set()
    for batch in reader.iter_batches(table, columns=columns):
        distinct = pa.Table.from_batches([batch]).group_by(columns).aggregate([])
        out.update(zip(*(distinct.column(c).to_pylist() for c in columns), strict=True))
    return out


def _merge_with_pause(
    reader: ArchiveReader,
    rows: RowSource,
    target: AirflowDB,
    opts: ImportSettings,
    report: ImportResult,
    progress: Progress,
) -> MergeResult:
    if opts.secrets_elsewhere:
        hidden = {s.name for s in SECRET_TABLES} & set(reader.manifest.tables)
        report.not_loaded |= dict.fromkeys(hidden, opts.secrets_elsewhere)
        rows = WithoutTables(rows, frozenset(hidden))
    dags = _archive_values(reader, "dag", ["dag_id", "is_paused"])
    dag_ids = sorted(
        {d for (d,) in _archive_values(reader, "dag_run", ["dag_id"])} | {d for d, _ in dags}
    )
    source_pause = reader.manifest.pause_state or {d: bool(p) for d, p in dags}
    if opts.dry_run:
        return merge(
            rows, target, opts.on_conflict, dry_run=True, progress=progress, link_dag_versions=False
        )
    guard = pause.PauseGuard(target.engine, dag_ids)
    final = None
    try:
        result = merge(
            rows,
            target,
            opts.on_conflict,
            progress=progress,
            link_dag_versions=opts.link_dag_versions,
            online=opts.online,
        )
        now = pause.read_states(target.engine, dag_ids)
        keep = opts.unpause is Unpause.KEEP_PAUSED
        final = {d: True if keep else source_pause.get(d, guard.prior.get(d, True)) for d in now}
        report.pause_states = final
        report.dags_not_deployed = _not_deployed(target, dag_ids)
        return result
    finally:
        guard.release(final)


def _not_deployed(target: AirflowDB, dag_ids: list[str]) -> list[str]:
    """DAGs with imported history that the target has not parsed (no serialized DAG)."""
    md = target.metadata
    if "serialized_dag" not in md.tables:
        return []
    sd = md.tables["serialized_dag"]
    with target.engine.connect() as conn:
        parsed = {r[0] for r in conn.execute(sa.select(sd.c.dag_id).distinct())}
    return [d for d in dag_ids if d not in parsed]
