"""Export: stream every table of a source database into an archive, in one snapshot.

Why this shape: rows go database -> Arrow batches -> Parquet without ever holding a
table in memory, inside a single repeatable-read transaction so the archive is one
consistent moment of the source. Secrets are decrypted with the source's Fernet key
and sealed with the archive key in memory; the manifest is written last.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import queue
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

import pyarrow as pa
import sqlalchemy as sa

import airshift
from airshift import backends
from airshift.archive import ArchiveWriter, Manifest, TableEntry
from airshift.archive import secrets as sec
from airshift.backends.pg_arrow import arrow_reader
from airshift.choices import ExportSecrets
from airshift.errors import AirshiftError
from airshift.metadata import pause
from airshift.metadata.registry import TABLES, TableSpec, spec_of
from airshift.metadata.schema import arrow_schema, columns_of, select_for, to_batch
from airshift.metadata.selection import RowFilter, Selection
from airshift.metadata.source import AirflowDB
from airshift.progress import NULL_PROGRESS, Progress


@dataclass
class ExportSettings:
    """How ``export`` writes an archive (the library API resolves them from ``ExportOptions``)."""

    archive_url: str
    selection: Selection = field(default_factory=Selection)
    fernet_key: str | None = None  # the source's Airflow Fernet key
    archive_key: str | None = None  # seals secrets in the archive; generated when None
    secrets: ExportSecrets = ExportSecrets.SEAL
    pause: bool = False
    batch_rows: int = 20_000
    origin: dict | None = None  # for archives re-made from a scratch database: the real source
    pause_state: dict[str, bool] | None = None
    jobs: int = 1  # tables read at once (PostgreSQL)
    # Called before each table and batch; what it raises stops the export (``migrate``:
    # the scratch database, made meanwhile, could not be made: its error at once, not
    # once the whole export is written).
    stop_if: Callable[[], None] = lambda: None


@dataclass
class ExportResult:
    manifest: Manifest
    archive_url: str
    generated_key: str | None


@contextlib.contextmanager
def snapshot(source: AirflowDB) -> Iterator[sa.Connection]:
    """One read-only connection that sees a single consistent state of the database."""
    with source.engine.connect() as conn:
        conn = source.backend.begin_snapshot(conn)
        try:
            yield conn
        finally:
            conn.rollback()


def export(
    source: AirflowDB, opts: ExportSettings, progress: Progress = NULL_PROGRESS
) -> ExportResult:
    """Write an archive of ``source``; on any failure remove the partial archive."""
    generated = None
    archive_key = opts.archive_key
    sealed = opts.secrets is ExportSecrets.SEAL
    if sealed and not archive_key:
        archive_key = generated = sec.new_key()
    codec = sec.SecretCodec(opts.fernet_key, archive_key, "source Fernet key", "archive key")
    writer = ArchiveWriter(opts.archive_url)
    rows = RowFilter(source, opts.selection)
    try:
        pause_ctx: contextlib.AbstractContextManager[dict[str, bool]] = (
            pause.paused(source.engine, rows.dag_ids) if opts.pause else contextlib.nullcontext({})
        )
        with pause_ctx as prior_pause:
            manifest = _export_tables(source, opts, rows, writer, codec, progress)
            manifest.pause_state = opts.pause_state or prior_pause
        if opts.origin:
            now = {
                k: manifest.source[k]
                for k in ("alembic_revision", "airflow_version", "introduced_in", "releases")
            }
            manifest.source = {**opts.origin, **now, "upgraded_from": opts.origin}
        manifest.secrets = {
            **manifest.secrets,
            "mode": "sealed" if sealed else "skipped",
            "key_fingerprint": sec.fingerprint(archive_key) if archive_key else None,
        }
        writer.finish(manifest)
    except OSError as exc:  # the archive location: full, gone, refused (S3 errors are OSErrors)
        with contextlib.suppress(OSError):
            writer.abort()
        reason = str(exc.strerror or exc).rstrip(". ")
        raise AirshiftError(
            f"Cannot write the archive to {opts.archive_url}: {reason}. The unfinished "
            "archive is not usable (it has no manifest); once the location takes writes again "
            "(free space, permissions, the store's limits), run the same command again."
        ) from None
    except BaseException:
        writer.abort()
        raise
    return ExportResult(manifest, opts.archive_url, generated)


def _export_tables(source, opts, rows, writer, codec, progress) -> Manifest:
    md = source.metadata
    skipped = {n: s.not_exported for n, s in TABLES.items() if s.not_exported and n in md.tables}
    names = [n for n in md.tables if n not in skipped]
    skipped |= {
        n: "left out by --include/--exclude" for n in names if not opts.selection.wants_table(n)
    }
    # Secrets first: a wrong Fernet key fails the export before anything large is written.
    names = sorted(
        (n for n in names if n not in skipped), key=lambda n: (not spec_of(n).secrets, n)
    )
    redactor = sec.Redactor()
    with snapshot(source) as conn:
        plans = [_plan(conn, md.tables[n], rows, progress) for n in names]
        fast = source.backend.arrow_snapshot(conn)
        serial = [p for p in plans if fast is None or p.spec.secrets]
        for plan in serial:  # secrets first: the log's redaction needs them
            _export_rows(conn, plan, opts, writer, codec, redactor, progress)
        if fast is not None:
            rest = [p for p in plans if p not in serial]
            _export_parallel(conn, fast, rest, opts, writer, redactor, progress)
    return Manifest(
        airshift_version=airshift.__version__,
        source={
            "url": source.safe_url,
            "backend": source.backend.name,
            "alembic_revision": source.revision.revision,
            "airflow_version": source.revision.label,
            "introduced_in": source.revision.introduced_in,
            "releases": list(source.revision.releases),
        },
        created_at=dt.datetime.now(dt.timezone.utc).isoformat(),
        filters=opts.selection.as_dict(),
        secrets={"log_values_redacted": redactor.redacted},
        tables={},
        skipped_tables=skipped,
    )


@dataclass
class _Plan:
    """One table's share of the export, decided in the snapshot before any row is read."""

    table: sa.Table
    cols: list
    schema: pa.Schema
    query: sa.Select
    total: int

    @property
    def spec(self) -> TableSpec:
        return spec_of(self.table.name)

    @property
    def entry(self) -> TableEntry:
        return TableEntry(
            self.table.name, [c.meta for c in self.cols], secret_columns=sorted(self.spec.secrets)
        )


def _plan(conn, table, rows, progress) -> _Plan:
    cols = columns_of(table, conn)
    query = select_for(table, cols)
    cond = rows.where(table)
    if cond is not None:
        query = query.where(cond)
    # Counting costs a scan of each table: only for a progress display someone watches.
    total = 0
    if progress.watched:
        count = sa.select(sa.func.count()).select_from(query.subquery())
        total = conn.execute(count).scalar_one()
        progress.update(table.name, total=total)
    return _Plan(table, cols, arrow_schema(cols), query, total)


def _export_parallel(conn, snapshot_id, plans, opts, writer, redactor, progress) -> None:
    """Arrow all the way (no Python per row), ``jobs`` tables at a time, largest first.

    Each worker reads through its own ADBC session joined to the export's snapshot, so
    the tables still come from one consistent moment; Parquet encoding and the reads
    release the GIL, so threads are enough.
    """
    readers: queue.SimpleQueue = queue.SimpleQueue()
    with contextlib.ExitStack() as stack:
        for _ in range(max(1, min(opts.jobs, len(plans)))):
            readers.put(stack.enter_context(arrow_reader(conn, snapshot_id)))

        def run(plan: _Plan) -> None:
            reader = readers.get()
            try:
                with writer.table(plan.entry, plan.schema) as sink:
                    for batch in reader.batches(plan.query, plan.schema):
                        opts.stop_if()
                        sink.write(_redacted(batch, plan.spec, redactor))
                        progress.update(plan.table.name, batch.num_rows)
            finally:
                readers.put(reader)

        sizes = backends.of(conn).table_bytes(conn)  # largest first: workers finish together
        ordered = sorted(plans, key=lambda p: -sizes.get(p.table.name, 0))
        with ThreadPoolExecutor(max_workers=readers.qsize()) as pool:
            futures = [pool.submit(run, p) for p in ordered]
            done, pending = wait(futures, return_when=FIRST_EXCEPTION)
            for f in pending:
                f.cancel()
            for f in done:
                f.result()


def _export_rows(conn, plan: _Plan, opts, writer, codec, redactor, progress) -> None:
    """Through SQLAlchemy: backends without ADBC, and the secret tables (resealed per row)."""
    names = [c.name for c in plan.cols]
    reseal = [
        (names.index(col), names.index(flag), col)
        for col, flag in plan.spec.secrets.items()
        if col in names
    ]
    with writer.table(plan.entry, plan.schema) as sink:
        result = conn.execution_options(stream_results=True, yield_per=opts.batch_rows).execute(
            plan.query
        )
        for part in result.partitions(opts.batch_rows):
            opts.stop_if()
            if reseal:
                part = [
                    _seal_row(r, reseal, plan.spec, names, codec, opts.secrets, redactor)
                    for r in part
                ]
            sink.write(_redacted(to_batch(part, plan.cols, plan.schema), plan.spec, redactor))
            progress.update(plan.table.name, len(part))


def _seal_row(row, reseal, spec: TableSpec, names, codec, mode, redactor) -> tuple:
    values = list(row)
    ident = values[names.index(spec.named_by)]
    for idx, flag_idx, col in reseal:
        where = f"{spec.name} {ident!r} ({col})"
        if values[idx] is not None and (mode is ExportSecrets.SEAL or codec.can_open):
            plain = codec.open(values[idx], where) if values[flag_idx] else values[idx].encode()
            redactor.add(plain, extra=col == "extra")
        if mode is ExportSecrets.SKIP:
            values[idx] = None
        else:
            values[idx] = codec.reseal(values[idx], bool(values[flag_idx]), where)
    return tuple(values)


def _redacted(batch: pa.RecordBatch, spec: TableSpec, redactor) -> pa.RecordBatch:
    """The batch with known secrets masked in the table's free-text columns (the audit
    log's ``extra``: Airflow 2's CLI logged the secrets it was given there)."""
    if not redactor.values:
        return batch
    columns = batch.columns
    for name in spec.redact:
        i = batch.schema.get_field_index(name)
        if i >= 0:
            columns[i] = redactor.redact(columns[i])
    # rebuilt: RecordBatch.set_column is pyarrow 16+; MWAA 2.8.1-2.10.1 pin 14.0.2
    return pa.RecordBatch.from_arrays(columns, schema=batch.schema)
