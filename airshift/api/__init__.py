"""airshift's library API: the command set as functions, typed options in, typed reports out.

Why: the ``airshift`` command is one caller among several (scripts, tests, an agent running
inside Airflow). Each command's whole behaviour lives here (opening databases, resolving
keys, the order of the steps, what is cleaned up); ``airshift.cli`` only parses options,
calls one of these functions and renders the report, the way alembic's ``command``
module sits under its ``CommandLine``.

Each function takes a ``progress.Progress`` and a ``progress.Log`` (default: neither shows
anything) and returns a report with ``as_dict()``, ``render()``, ``notices()`` and
``exit_code`` (``api.reports``). Failures the user can fix raise ``errors.AirshiftError``
subclasses.

Three things the command does to its whole process are left to the program, because a
library must not change its host on import or off the main thread:

* ``airshift.memory.arrow_on_system_pool()`` before pyarrow is first imported, and
  ``airshift.memory.bound_allocators()``: Arrow on the system allocator and glibc held to
  two malloc arenas, which keeps peak memory flat with ``--jobs`` (``docs/benchmarks.md``).
  Call them first thing, before any thread starts, to get the command's memory profile.
* SIGTERM raised as ``KeyboardInterrupt``: then a ``kill`` unwinds like Ctrl-C (the
  merge's transaction rolls back, the scratch database is dropped, paused DAGs are
  restored) instead of leaving them behind. Install it on the main thread, as
  ``cli.main`` does (``signal.signal(signal.SIGTERM, ...)``); a run killed without it
  still leaves the target unchanged, and the next run restores the pause states.
* Its end without interpreter finalization, where Arrow's threads can abort a finished
  process (``airshift.program``; ``program.run(main)`` also makes the first setting).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import sqlalchemy as sa
from rich.filesize import decimal
from sqlalchemy.exc import OperationalError

from airshift import airflow_env, versions
from airshift.api.options import (
    CutoverOptions,
    ExportOptions,
    ImportOptions,
    LogsCopyOptions,
    MigrateOptions,
    UpgradeOptions,
    VerifyOptions,
    _FromDatabase,
    _IntoTarget,
    _Merging,
)
from airshift.api.reports import (
    CutoverReport,
    ExportReport,
    ImportReport,
    InspectReport,
    LogsCopyReport,
    MigrateReport,
    Report,
    UpgradeReport,
    VerifyReport,
)
from airshift.archive import ArchiveReader
from airshift.archive import secrets as sec
from airshift.archive.reader import is_archive
from airshift.choices import CutoverPhase, ExportSecrets, ImportSecrets, OnConflict, Unpause
from airshift.env.secretsmanager import (
    ConnectionValue,
    SecretsManagerTarget,
    SecretsReport,
    VariableValue,
    archived_values,
    write_secrets,
)
from airshift.errors import AirshiftError, ConflictError, ExitCode, UnreachableDatabase
from airshift.logs import stage
from airshift.logs.copy import CopyOptions, FileResult, copy_logs
from airshift.logs.index import IndexFilter, airflow_major, iter_tries
from airshift.logs.naming import LAYOUTS, RECORDED, Naming, resolve_template, template_from_config
from airshift.logs.tables import open_tables
from airshift.metadata import cutover as cut
from airshift.metadata import extract, importer, pause, scratch
from airshift.metadata.extract import ExportSettings
from airshift.metadata.importer import ImportResult, ImportSettings
from airshift.metadata.inspect import inspect_archive, inspect_database
from airshift.metadata.selection import Selection
from airshift.metadata.source import AirflowDB
from airshift.progress import NULL_PROGRESS, Log, Progress, null_log

__all__ = [
    "CutoverOptions",
    "CutoverReport",
    "ExportOptions",
    "ExportReport",
    "ImportOptions",
    "ImportReport",
    "InspectReport",
    "LogsCopyOptions",
    "LogsCopyReport",
    "MigrateOptions",
    "MigrateReport",
    "Report",
    "SecretsOut",
    "UpgradeOptions",
    "UpgradeReport",
    "VerifyOptions",
    "VerifyReport",
    "cutover",
    "default_jobs",
    "export",
    "import_",
    "inspect",
    "logs_copy",
    "migrate",
    "upgrade",
    "verify",
]


P = ParamSpec("P")
R = TypeVar("R")
# SQLSTATE classes of a server that gave up mid-run: out of resources (53: disk full, out
# of memory), operator intervention (57: pg_terminate_backend, a shutdown or restart).
_SERVER_GAVE_UP = ("53", "57")


def _failing_database(command: Callable[P, R]) -> Callable[P, R]:
    """A database that fails mid-run (its connection ended, the server restarted, its disk
    full) ends ``command`` with one paragraph instead of a driver traceback. Every change
    to a target is one transaction, and the next run sets right what a stopped run left
    (paused DAGs, scratch databases), so the advice is always the same: run it again."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except OperationalError as exc:
            state = str(getattr(exc.orig, "sqlstate", None) or "")
            if not (exc.connection_invalidated or state.startswith(_SERVER_GAVE_UP)):
                raise
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise UnreachableDatabase(
                f"A database failed while airshift worked ({reason}). An import that does "
                "not finish commits nothing; run the same command again when the database "
                "answers (it restores the DAGs this run paused and drops what it left)."
            ) from None

    return run


def default_jobs() -> int:
    """Tables read and loaded at once when not told: the CPU count, at most 4."""
    return min(4, os.cpu_count() or 1)


@_failing_database
def inspect(location: str) -> InspectReport:
    """What a database or an archive holds, and what will not migrate cleanly. For an
    archive, every table file is checked against its SHA-256 (problems: exit code 1)."""
    if is_archive(location):
        return InspectReport(inspect_archive(ArchiveReader(location)))
    source = AirflowDB.open(location)
    try:
        return InspectReport(inspect_database(source))
    finally:
        source.dispose()


@_failing_database
def export(opts: ExportOptions, progress: Progress = NULL_PROGRESS) -> ExportReport:
    """A database into a portable, verified archive, at its own schema revision."""
    source = AirflowDB.open(opts.source)
    settings = ExportSettings(
        archive_url=opts.to,
        selection=opts.selection,
        fernet_key=sec.airflow_fernet_key(opts.fernet_key, opts.airflow_home),
        archive_key=opts.archive_key,
        secrets=opts.secrets,
        pause=opts.pause,
        jobs=opts.jobs or default_jobs(),
    )
    try:
        return ExportReport(extract.export(source, settings, progress))
    finally:
        source.dispose()


@_failing_database
def import_(
    opts: ImportOptions, progress: Progress = NULL_PROGRESS, log: Log = null_log
) -> ImportReport:
    """An archive's history merged into a live target, across Airflow versions."""
    _use_venvs(opts.airflow_venvs)
    secrets_to = SecretsOut.target_of(opts.secrets_to, opts.secrets)
    settings = _import_settings(opts, opts.archive_key, opts.link_dag_versions)
    reader = ArchiveReader(opts.archive)
    out = SecretsOut.ready(secrets_to, reader, opts.archive_key, opts.on_conflict)
    target = AirflowDB.open(opts.target)
    try:
        result = importer.import_archive(reader, target, settings, progress, log=log)
    finally:
        target.dispose()
    return ImportReport(result, out.write(opts.dry_run, log) if out else None)


@_failing_database
def upgrade(
    opts: UpgradeOptions, progress: Progress = NULL_PROGRESS, log: Log = null_log
) -> UpgradeReport:
    """A new archive holding ``opts.archive``'s rows at a newer Airflow's schema, made by
    Airflow's own migrations; it can be imported many times into targets of that version."""
    _use_venvs(opts.airflow_venvs)
    release = versions.resolve_release(opts.to)
    settings = ImportSettings(
        archive_key=opts.archive_key,
        scratch_url=opts.scratch_url,
        convert_pickled=opts.convert_pickled,
        jobs=opts.jobs or default_jobs(),
    )
    result, manifest = importer.upgrade_archive(
        ArchiveReader(opts.archive), release, opts.out, settings, progress, log=log
    )
    tables = {n: t.rows for n, t in manifest.tables.items()}
    return UpgradeReport(result, opts.archive, opts.out, release, tables)


@_failing_database
def migrate(
    opts: MigrateOptions, progress: Progress = NULL_PROGRESS, log: Log = null_log
) -> MigrateReport:
    """The whole path: inspect both sides, export, upgrade, import, verify (and copy the
    task logs, when asked). The archive goes to a temp folder unless ``opts.archive``
    says where to keep it; its secrets are sealed with a new key the report holds."""
    _use_venvs(opts.airflow_venvs)
    secrets_to = SecretsOut.target_of(opts.secrets_to, opts.secrets)
    source, target = AirflowDB.open(opts.source), AirflowDB.open(opts.target)
    log(
        f"source: {source.safe_url} ({source.revision.label}); "
        f"target: {target.safe_url} ({target.revision.label})"
    )
    key = sec.new_key()
    with contextlib.ExitStack() as stack:
        where = (
            opts.archive
            or f"{stack.enter_context(tempfile.TemporaryDirectory(prefix='airshift-'))}/archive"
        )
        stack.callback(source.dispose)
        stack.callback(target.dispose)
        settings = _import_settings(opts, key)
        importer.check_direction(source.revision.revision, target.revision.revision)
        importer.check_mergeable(target.revision.revision)
        selection = Selection(opts.dag_ids, opts.since, opts.last_runs)
        paused = opts.pause and not opts.dry_run
        result, written = _transfer(
            source, target, opts, where, selection, settings, paused, progress, log, secrets_to
        )
        copied = None
        if opts.logs and not opts.dry_run:
            source_logs, target_logs = opts.logs
            log(f"copying task logs {source_logs}={target_logs}")
            copied = stage.copy_archived_logs(
                where, source_logs, target_logs, target_major=target.revision.major
            )
    return MigrateReport(result, opts.archive, key, copied, written)


def _transfer(
    source: AirflowDB,
    target: AirflowDB,
    opts: _FromDatabase,
    where: str,
    selection: Selection,
    settings: ImportSettings,
    pause_source: bool,
    progress: Progress,
    log: Log,
    secrets_to: SecretsManagerTarget | None = None,
    made: importer.Scratch | None = None,
) -> tuple[ImportResult, SecretsReport | None]:
    """Export ``selection`` of ``source`` to an archive at ``where`` (sealed with
    ``settings.archive_key``), then import that archive into ``target``; with
    ``secrets_to``, connections and variables go to Secrets Manager instead.

    The scratch for the upgrade is made (``importer.scratch_for``) in a thread while the
    export runs, and dropped on return; or it was ``made`` before, and is dropped by its
    maker (a cutover's delta, ``_DeltaAhead``: after its phase, outside the downtime; a
    DROP DATABASE waits for a checkpoint)."""
    skip = opts.secrets is ImportSecrets.SKIP
    archived = ExportSettings(
        archive_url=where,
        selection=selection,
        fernet_key=sec.airflow_fernet_key(opts.fernet_key, opts.airflow_home),
        archive_key=settings.archive_key,
        secrets=ExportSecrets.SKIP if skip else ExportSecrets.SEAL,
        pause=pause_source,
        jobs=settings.jobs,
    )
    src_rev, target_rev = source.revision.revision, target.revision.revision
    with contextlib.ExitStack() as here, ThreadPoolExecutor(1) as pool:
        # On a failed export the pool waits for the scratch, and the stack then drops it.
        def make() -> importer.Scratch:
            """The scratch, with its tables and the target's reflected (what the import
            does first), while the export runs."""
            made = here.enter_context(
                importer.scratch_for(target.url, src_rev, target_rev, settings, log)
            )
            for ready in (made.db, target):
                if ready is not None:
                    ready.metadata  # noqa: B018 (reflected now, used after the export)
            return made

        making = pool.submit(make) if src_rev != target_rev and made is None else None

        def scratch_failed() -> None:
            """Raise what stopped the scratch from being made, as soon as it did: the
            export stops there (a missing CREATE DATABASE right was reported only once the
            whole export was written)."""
            if making is not None and making.done():
                making.result()

        archived.stop_if = scratch_failed
        started = time.monotonic()
        extract.export(source, archived, progress)
        exported = time.monotonic() - started
        log(f"exported to {where}")
        reader = ArchiveReader(where)
        out = SecretsOut.ready(secrets_to, reader, settings.archive_key, opts.on_conflict)
        made = making.result() if making else made
        result = importer.import_archive(reader, target, settings, progress, log=log, made=made)
    result.seconds = {"export": round(exported, 3), **result.seconds}
    return result, out.write(opts.dry_run, log) if out else None


@_failing_database
def cutover(
    opts: CutoverOptions, progress: Progress = NULL_PROGRESS, log: Log = null_log
) -> CutoverReport:
    """Move a live environment with minutes of downtime, phase by phase (``CutoverPhase``):
    bulk copy while the source runs, pause the source, drain, delta, verify, unpause the
    same DAGs on the target. Each finished phase is recorded in the state file, so a run
    that stops is resumed where it stopped; ``opts.rollback`` undoes the pauses."""
    _use_venvs(opts.airflow_venvs)
    source, target = AirflowDB.open(opts.source), AirflowDB.open(opts.target)
    try:
        path = Path(opts.state_file) if opts.state_file else cut.default_state_path(source, target)
        state = cut.CutoverState.load(path, source.safe_url, target.safe_url)
        if state.rolled_back and not opts.rollback:  # a new attempt: from the bulk phase on
            path.replace(path.with_name(f"{path.stem}.rolled-back{path.suffix}"))
            state = cut.CutoverState(source.safe_url, target.safe_url)
        report = CutoverReport(state, str(path))
        if opts.rollback:
            if state.prior_pause is None:
                raise AirshiftError(
                    f"There is no cutover to roll back: {path} records no pause of the source "
                    "(--state-file names another one). Nothing was changed."
                )
            cut.rollback(source, target, state)
            scratch.drop_template(target.url, source.revision.revision)
            state.rolled_back = True
            state.save(path)
            log(f"rolled back: the source's {len(state.prior_pause)} DAGs have their prior states")
            return report
        importer.check_direction(source.revision.revision, target.revision.revision)
        importer.check_mergeable(target.revision.revision)
        if opts.dry_run:
            report.plan = _cutover_plan(source, state)
            return report
        with contextlib.ExitStack() as stack:
            where = opts.archive or stack.enter_context(
                tempfile.TemporaryDirectory(prefix="airshift-cutover-")
            )
            # The pool is left first (it waits for what it makes), then the scratch dropped.
            kept = stack.enter_context(contextlib.ExitStack())
            ahead = _DeltaAhead(
                stack.enter_context(ThreadPoolExecutor(1)),
                lambda: kept.enter_context(
                    importer.scratch_for(
                        target.url,
                        source.revision.revision,
                        target.revision.revision,
                        _cutover_settings(opts, source, target, None),
                        log,
                    )
                ),
            )
            reaches_delta = _reaches_delta(opts, state, source, target)
            for phase in CutoverPhase:
                if state.done(phase):
                    log(f"{phase}: done in an earlier run")
                else:
                    started = time.time()  # making the delta's scratch is the phase's time
                    made = ""
                    if reaches_delta and phase is not CutoverPhase.BULK:
                        made = ahead.ready(source, target)
                    progress.update(f"cutover: {phase}")
                    summary = _cutover_phase(
                        phase,
                        source,
                        target,
                        opts,
                        state,
                        path,
                        where,
                        report,
                        progress,
                        log,
                        ahead.scratch,
                        ahead.start if reaches_delta and phase is CutoverPhase.BULK else None,
                    )
                    if phase is CutoverPhase.BULK and ahead.making is not None:
                        made = "; the delta's scratch made once its template was kept"
                    summary += made
                    state.record(phase, started, summary)
                    state.save(path)
                    log(f"{phase}: {summary}")
                if phase is opts.stop_after:
                    break
        return report
    finally:
        source.dispose()
        target.dispose()


def _cutover_phase(
    phase: CutoverPhase,
    source: AirflowDB,
    target: AirflowDB,
    opts: CutoverOptions,
    state: cut.CutoverState,
    path: Path,
    where: str,
    report: CutoverReport,
    progress: Progress,
    log: Log,
    delta_scratch: importer.Scratch | None,
    template_kept: Callable[[], None] | None = None,
) -> str:
    """Run one phase; returns its one-line summary (the timeline's). ``delta_scratch``:
    the delta's scratch, made before and kept until the run ends (``_DeltaAhead``);
    ``template_kept``: called in the bulk phase once its empty scratch schema is kept."""
    if phase in (CutoverPhase.BULK, CutoverPhase.DELTA):
        key = sec.new_key()
        settings = _cutover_settings(opts, source, target, key)
        settings.template_kept = template_kept
        if phase is CutoverPhase.BULK:
            state.bulk_started = (cut.now() - cut.CLOCK_MARGIN).isoformat()
            selection = Selection()
        else:
            assert state.bulk_started is not None
            selection = Selection(changed_since=dt.datetime.fromisoformat(state.bulk_started))
            settings.on_conflict = OnConflict.NEWER
        archive = f"{where}/{phase}"
        if opts.archive:
            report.archive_keys[archive] = key
        # The bulk phase comes before any delta's scratch is made: None for it.
        result, _ = _transfer(
            source,
            target,
            opts,
            archive,
            selection,
            settings,
            False,
            progress,
            log,
            None,
            delta_scratch,
        )
        state.results[phase.value] = result.as_dict()
        merged = result.merge.tables.values() if result.merge else ()
        return (
            f"{sum(t.inserted for t in merged)} rows inserted, "
            f"{sum(t.overwritten for t in merged)} updated (newer in the source), "
            f"{sum(t.newer_in_target for t in merged)} kept (newer in the target)"
        )
    if phase is CutoverPhase.PAUSE:
        active = cut.pause_source(source, state, path)
        return f"{len(state.prior_pause or {})} DAGs paused on the source ({active} were active)"
    if phase is CutoverPhase.DRAIN:
        executing = cut.drain(source, opts.drain_timeout, progress)
        if executing and not opts.force:
            shown = "; ".join(executing[:10]) + (" ..." if len(executing) > 10 else "")
            raise AirshiftError(
                f"{len(executing)} tasks were still executing on the source after "
                f"{opts.drain_timeout:g}s: {shown}. The source stays paused and nothing more "
                "was copied; run the cutover again to keep waiting, add --force to move them "
                "as they are, or --rollback."
            )
        state.moved_unfinished = executing + cut.unfinished_tasks(source, cut.WAITING)
        return f"drained; {len(state.moved_unfinished)} unfinished tasks move as they are"
    if phase is CutoverPhase.VERIFY:
        verified = verify(
            VerifyOptions(
                source=opts.source,
                target=opts.target,
                fernet_key=sec.airflow_fernet_key(opts.fernet_key, opts.airflow_home),
                target_fernet_key=_target_key(opts),
                scratch_url=opts.scratch_url,
            ),
            progress,
            log,
        )
        state.results["verify"] = verified.as_dict()
        if verified.bad:
            state.save(path)
            raise AirshiftError(
                f"The target does not match the source in {', '.join(verified.bad)} (see "
                f"{path}); no DAG was unpaused on the target and the source stays paused. "
                "Run the cutover again after fixing it, or --rollback."
            )
        return "every source row is in the target"
    unpaused, held = cut.unpause(source, target, state, opts.allow_catchup)
    state.unpaused, state.held = unpaused, held
    # The bulk phase's empty schema, kept for the delta: dropped once the target runs, not
    # in the delta, whose every second is downtime (a DROP DATABASE can take seconds).
    scratch.drop_template(target.url, source.revision.revision)
    moved = sum(before != after for before, after, _ in state.next_runs.values())
    return (
        f"{len(unpaused)} DAGs unpaused on the target, {len(held)} held paused; "
        f"{moved} next runs recomputed from the migrated runs"
    )


def _cutover_settings(
    opts: CutoverOptions, source: AirflowDB, target: AirflowDB, key: str | None
) -> ImportSettings:
    """A bulk or delta phase's import settings: the target's DAGs stay paused (the unpause
    phase decides), and the bulk's empty scratch schema is kept for the delta's."""
    settings = replace(_import_settings(opts, key), unpause=Unpause.KEEP_PAUSED)
    if not opts.scratch_url:
        settings.scratch_template = scratch.template_name(target.url, source.revision.revision)
    return settings


def _reaches_delta(
    opts: CutoverOptions, state: cut.CutoverState, source: AirflowDB, target: AirflowDB
) -> bool:
    """Whether this run goes on to a delta that crosses versions (its scratch is made
    ahead, ``_DeltaAhead``)."""
    phases = list(CutoverPhase)
    last = phases.index(opts.stop_after) if opts.stop_after else len(phases)
    return (
        not state.done(CutoverPhase.DELTA)
        and last >= phases.index(CutoverPhase.DELTA)
        and source.revision.revision != target.revision.revision
    )


@dataclass
class _DeltaAhead:
    """The delta's scratch, made before the delta: in ``pool``'s thread as soon as the bulk
    phase has kept its empty schema (``start``), else as the pause (or the first phase
    this run does) begins (``ready``); kept until the run ends.

    Why before the delta: making the scratch starts Airflow's process for its migration
    (``importer.scratch_for``), whose imports take 2-3 s of CPU. Started with the delta,
    they competed with its export and load for this machine's two cores and were not done
    when the migration was due (a medium delta: 4.6 s instead of 3.7). Started with the
    pause they overlap the drain, if there is one; started during the bulk phase, they
    overlap its minutes of copying. Waited for before the pause: a scratch that cannot be
    made stops the run before the source is paused."""

    pool: ThreadPoolExecutor
    make: Callable[[], importer.Scratch]
    making: Future[importer.Scratch] | None = None
    scratch: importer.Scratch | None = None

    def start(self) -> None:
        if self.making is None:
            self.making = self.pool.submit(self.make)

    def ready(self, source: AirflowDB, target: AirflowDB) -> str:
        """The scratch made (or waited for); the phase summary's note, if made now."""
        if self.scratch is not None:
            return ""
        note = ""
        if self.making is None:
            self.scratch = self.make()
            note = "; the delta's scratch made (Airflow's migration starts ahead)"
        else:
            self.scratch = self.making.result()
        for db_ in (source, target, self.scratch.db):
            if db_ is not None:
                db_.reflect_ahead(self.pool)
        return note


def _cutover_plan(source: AirflowDB, state: cut.CutoverState) -> list[dict[str, Any]]:
    """What each phase would do now, changing nothing."""
    states = pause.read_states(source.engine, None)
    active = sorted(d for d, paused in (state.prior_pause or states).items() if not paused)
    executing = cut.unfinished_tasks(source, cut.EXECUTING)
    md = source.metadata
    with source.engine.connect() as conn:
        runs, tis = (
            conn.execute(sa.select(sa.func.count()).select_from(md.tables[n])).scalar_one()
            for n in ("dag_run", "task_instance")
        )
    would = {
        CutoverPhase.BULK: f"copy everything ({runs} runs, {tis} task instances) while the "
        "source keeps running",
        CutoverPhase.PAUSE: f"pause {len(states)} DAGs on the source ({len(active)} active), "
        "their states recorded first",
        CutoverPhase.DRAIN: f"wait for {len(executing)} executing tasks",
        CutoverPhase.DELTA: "copy the runs changed since the bulk copy; the newer row wins",
        CutoverPhase.VERIFY: "compare every source row with the target",
        CutoverPhase.UNPAUSE: f"unpause on the target: {', '.join(active) or 'none'} (catchup "
        "DAGs that would create past runs held)",
    }
    return [{"phase": p.value, "done": state.done(p), "would": would[p]} for p in CutoverPhase]


@_failing_database
def verify(
    opts: VerifyOptions, progress: Progress = NULL_PROGRESS, log: Log = null_log
) -> VerifyReport:
    """Every archived row present and equal in the target, per table (secrets compared
    decrypted); a database as the source is exported to a temporary archive first."""
    _use_venvs(opts.airflow_venvs)
    with _as_archive(opts.source, opts.fernet_key, opts.archive_key) as (reader, key):
        target = AirflowDB.open(opts.target)
        try:
            target_key = _target_key(opts)
            settings = ImportSettings(
                archive_key=key,
                target_fernet_key=target_key,
                scratch_url=opts.scratch_url,
                skip_secrets=not (key and target_key),
            )
            compared = importer.import_archive(
                reader, target, settings, progress, log=log, verify_only=True
            )
        finally:
            target.dispose()
    return VerifyReport(compared)


def logs_copy(opts: LogsCopyOptions, progress: Progress = NULL_PROGRESS) -> LogsCopyReport:
    """The log of every task try the metadata knows, from one store to another, each
    side named by its Airflow's rules."""
    tables = open_tables(opts.metadata)
    fallback = (
        template_from_config(opts.source_config) if opts.source_config else LAYOUTS["airflow-1.10"]
    )
    flt = IndexFilter.build(opts.states, opts.dag_ids, opts.since, opts.days, opts.last_runs)
    tries = list(iter_tries(tables, flt))
    if not tries:
        raise AirshiftError("No task tries in the metadata match the filters.", ExitCode.FAILED)
    moved = 0

    def advance(result: FileResult) -> None:
        nonlocal moved
        moved += result.bytes
        progress.update("copying logs", 1, total=len(tries), label=decimal(moved))

    options = CopyOptions(
        source_naming=_naming(opts.source_template, airflow_major(tables), fallback),
        target_naming=_naming(opts.target_template, opts.target_airflow, fallback),
        jobs=opts.jobs,
        overwrite=opts.overwrite,
        dry_run=opts.dry_run,
        on_result=advance,
    )
    return LogsCopyReport(copy_logs(tries, opts.source_logs, opts.target_logs, options))


def _naming(choice: str, major: int, fallback: str) -> Naming:
    template = None if choice == RECORDED else resolve_template(choice)
    return Naming(airflow_major=major, template=template, fallback=fallback)


def _use_venvs(specs: list[str]) -> None:
    """Airflow installs to use instead of the cached ones (for the rest of the process)."""
    for spec in specs:
        airflow_env.register_venv(spec)


def _target_key(opts: _IntoTarget) -> str | None:
    """The target's Fernet key: given, or read from its AIRFLOW_HOME's airflow.cfg."""
    if opts.target_fernet_key or not opts.target_airflow_home:
        return opts.target_fernet_key
    return sec.airflow_fernet_key(None, opts.target_airflow_home)


def _import_settings(
    opts: _Merging, archive_key: str | None, link_dag_versions: bool = True
) -> ImportSettings:
    return ImportSettings(
        archive_key=archive_key,
        target_fernet_key=_target_key(opts),
        on_conflict=opts.on_conflict,
        dry_run=opts.dry_run,
        unpause=opts.unpause,
        scratch_url=opts.scratch_url,
        skip_secrets=opts.secrets is ImportSecrets.SKIP or bool(opts.secrets_to),
        convert_pickled=opts.convert_pickled,
        link_dag_versions=link_dag_versions,
        jobs=opts.jobs or default_jobs(),
        online=opts.online,
        secrets_elsewhere=SecretsOut.reason(opts.secrets_to) if opts.secrets_to else None,
    )


@dataclass
class SecretsOut:
    """An archive's connections and variables, opened and bound for Secrets Manager
    (``--secrets-to``) instead of the target's database.

    Opened (and, with ``--on-conflict fail``, checked against what Secrets Manager holds)
    before the import changes anything; written once the import has succeeded. The agent's
    import uses it too: the archive is opened on the caller's machine, which holds its key."""

    target: SecretsManagerTarget
    connections: list[ConnectionValue]
    variables: list[VariableValue]
    overwrite: bool

    @staticmethod
    def target_of(url: str | None, secrets: ImportSecrets) -> SecretsManagerTarget | None:
        """The parsed ``--secrets-to`` (None without one); refused with ``--secrets skip``."""
        if not url:
            return None
        if secrets is ImportSecrets.SKIP:
            raise AirshiftError(
                "--secrets skip leaves connections' secrets and variables out, and --secrets-to "
                "writes them to Secrets Manager: choose one. Nothing was changed."
            )
        return SecretsManagerTarget.parse(url)

    @staticmethod
    def reason(url: str) -> str:
        return f"written to AWS Secrets Manager instead ({url}), see secrets_to"

    @classmethod
    def ready(
        cls,
        target: SecretsManagerTarget | None,
        reader: ArchiveReader,
        key: str | None,
        on_conflict: OnConflict,
    ) -> SecretsOut | None:
        """The archive's values opened for ``target`` (None without one)."""
        if target is None:
            return None
        connections, variables = archived_values(reader, key)
        out = cls(target, connections, variables, on_conflict is OnConflict.OVERWRITE)
        if on_conflict is OnConflict.FAIL:
            conflicts = [r.secret_name for r in out.write(dry_run=True).problems]
            if conflicts:
                raise ConflictError(
                    f"{len(conflicts)} secret(s) in Secrets Manager hold other values: "
                    f"{', '.join(conflicts)}. --on-conflict fail: nothing was imported."
                )
        return out

    def write(self, dry_run: bool, log: Log = null_log) -> SecretsReport:
        report = write_secrets(
            self.connections, self.variables, self.target, self.overwrite, dry_run
        )
        log(f"Secrets Manager: {report.counts()}")
        return report


@contextlib.contextmanager
def _as_archive(
    location: str, fernet_key: str | None, archive_key: str | None
) -> Iterator[tuple[ArchiveReader, str | None]]:
    """An archive for ``location``: opened as is, or exported first from a database."""
    if is_archive(location):
        yield ArchiveReader(location), archive_key
        return
    with tempfile.TemporaryDirectory(prefix="airshift-archive-") as tmp:
        source = AirflowDB.open(location)
        key = sec.new_key()
        try:
            extract.export(
                source,
                ExportSettings(
                    archive_url=f"{tmp}/archive",
                    fernet_key=sec.airflow_fernet_key(fernet_key),
                    archive_key=key,
                ),
            )
        finally:
            source.dispose()
        yield ArchiveReader(f"{tmp}/archive"), key
