"""Export: stream every table of a source database into an archive, in one snapshot.

Why this shape: rows go database -> Arrow batches -> Parquet without ever holding a
table in memory, inside a single repeatable-read transaction so the archive is one
consistent moment of the source. Secrets are decrypted with the source's Fernet key
and sealed with the archive key in memory; the manifest is written last.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field

import sqlalchemy as sa
from rich.progress import Progress

import airshift
from airshift.archive import ArchiveWriter, Manifest, TableEntry
from airshift.archive import secrets as sec
from airshift.errors import AirshiftError
from airshift.metadata import pause
from airshift.metadata.arrow_pg import arrow_reader
from airshift.metadata.registry import EXPORT_SKIP, SECRET_COLUMNS
from airshift.metadata.schema import arrow_schema, columns_of, select_for, to_batch
from airshift.metadata.selection import RowFilter, Selection
from airshift.metadata.source import AirflowDB


@dataclass
class ExportOptions:
    archive_url: str
    selection: Selection = field(default_factory=Selection)
    fernet_key: str | None = None  # the source's Airflow Fernet key
    archive_key: str | None = None  # seals secrets in the archive; generated when None
    secrets: str = "seal"  # "seal" | "skip"
    pause: bool = False
    batch_rows: int = 20_000
    origin: dict | None = None  # for archives re-made from a scratch database: the real source
    pause_state: dict[str, bool] | None = None


@dataclass
class ExportResult:
    manifest: Manifest
    archive_url: str
    generated_key: str | None


@contextlib.contextmanager
def snapshot(source: AirflowDB) -> Iterator[sa.Connection]:
    """One read-only connection that sees a single consistent state of the database."""
    with source.engine.connect() as conn:
        if source.backend == "sqlite":
            conn.exec_driver_sql("BEGIN")  # pysqlite does not begin on SELECT by itself
        else:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            if source.backend == "postgresql":
                conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            else:
                conn.exec_driver_sql("START TRANSACTION WITH CONSISTENT SNAPSHOT")
        try:
            yield conn
        finally:
            conn.rollback()


def export(
    source: AirflowDB, opts: ExportOptions, progress: Progress | None = None
) -> ExportResult:
    """Write an archive of ``source``; on any failure remove the partial archive."""
    if opts.secrets not in ("seal", "skip"):
        raise AirshiftError(f"--secrets takes 'seal' or 'skip', not {opts.secrets!r}.")
    generated = None
    archive_key = opts.archive_key
    if opts.secrets == "seal" and not archive_key:
        archive_key = generated = sec.new_key()
    codec = sec.SecretCodec(opts.fernet_key, archive_key, "source Fernet key", "archive key")
    writer = ArchiveWriter(opts.archive_url)
    rows = RowFilter(source, opts.selection)
    try:
        pause_ctx = (
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
            "mode": "sealed" if opts.secrets == "seal" else "skipped",
            "key_fingerprint": sec.fingerprint(archive_key) if archive_key else None,
        }
        writer.finish(manifest)
    except BaseException:
        writer.abort()
        raise
    return ExportResult(manifest, opts.archive_url, generated)


def _export_tables(source, opts, rows, writer, codec, progress) -> Manifest:
    md = source.metadata
    skipped = {n: r for n, r in EXPORT_SKIP.items() if n in md.tables}
    names = [n for n in md.tables if n not in skipped]
    skipped |= {
        n: "left out by --include/--exclude" for n in names if not opts.selection.wants_table(n)
    }
    # Secrets first: a wrong Fernet key fails the export before anything large is written.
    names = sorted(
        (n for n in names if n not in skipped), key=lambda n: (n not in SECRET_COLUMNS, n)
    )
    redactor = sec.Redactor()
    with contextlib.ExitStack() as stack:
        conn = stack.enter_context(snapshot(source))
        fast = stack.enter_context(arrow_reader(conn)) if source.backend == "postgresql" else None
        for name in names:
            _export_table(
                conn, fast, md.tables[name], opts, rows, writer, codec, redactor, progress
            )
    return Manifest(
        airshift_version=airshift.__version__,
        source={
            "url": source.safe_url,
            "backend": source.backend,
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


def _export_table(conn, fast, table, opts, rows, writer, codec, redactor, progress) -> None:
    cols = columns_of(table, conn)
    schema = arrow_schema(cols)
    query = select_for(table, cols)
    cond = rows.where(table)
    if cond is not None:
        query = query.where(cond)
    total = conn.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one()
    task = progress.add_task(table.name, total=total) if progress else None
    secret_cols = SECRET_COLUMNS.get(table.name, {})
    entry = TableEntry(table.name, [c.meta for c in cols], secret_columns=sorted(secret_cols))
    names = [c.name for c in cols]
    reseal = [
        (names.index(col), names.index(flag), col)
        for col, flag in secret_cols.items()
        if col in names
    ]
    with writer.table(entry, schema) as sink:
        if fast is not None and not reseal:  # Arrow all the way: no Python per row
            for batch in fast.batches(query, schema):
                sink.write(_redacted(batch, redactor) if table.name == "log" else batch)
                if progress:
                    progress.advance(task, batch.num_rows)
            return
        result = conn.execution_options(stream_results=True, yield_per=opts.batch_rows).execute(
            query
        )
        for part in result.partitions(opts.batch_rows):
            if reseal:
                part = [
                    _seal_row(r, reseal, table.name, names, codec, opts.secrets, redactor)
                    for r in part
                ]
            batch = to_batch(part, cols, schema)
            sink.write(_redacted(batch, redactor) if table.name == "log" else batch)
            if progress:
                progress.advance(task, len(part))


def _seal_row(row, reseal, table, names, codec, mode, redactor) -> tuple:
    values = list(row)
    ident = values[names.index("key" if table == "variable" else "conn_id")]
    for idx, flag_idx, col in reseal:
        where = f"{table} {ident!r} ({col})"
        if values[idx] is not None and (mode == "seal" or codec.can_open):
            plain = codec.open(values[idx], where) if values[flag_idx] else values[idx].encode()
            redactor.add(plain, extra=col == "extra")
        if mode == "skip":
            values[idx] = None
        else:
            values[idx] = codec.reseal(values[idx], bool(values[flag_idx]), where)
    return tuple(values)


def _redacted(batch, redactor):
    """The log batch with known secrets masked in its free-text ``extra`` column."""
    i = batch.schema.get_field_index("extra")
    if i < 0 or not redactor.values:
        return batch
    return batch.set_column(i, "extra", redactor.redact(batch.column(i)))
