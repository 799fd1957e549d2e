"""Write an archive's tables into a database, secrets re-sealed on the way.

Why one loader: the scratch database and the target's staging tables are filled the
same way, from the archive's Arrow batches, through the backend's fastest bulk path
(``backends``: COPY on PostgreSQL, batched executemany elsewhere); only the small secret
tables go row by row, each secret opened with the archive key and sealed with the
target's Fernet key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa
import sqlalchemy as sa

from airshift import backends
from airshift.archive import ArchiveReader
from airshift.archive import secrets as sec
from airshift.backends.base import Into, batch_rows
from airshift.errors import WrongKey
from airshift.metadata.registry import TableSpec, spec_of


def archive_codec(
    reader: ArchiveReader, archive_key: str | None, target_key: str | None
) -> sec.SecretCodec:
    """Opens the archive's sealed secrets and seals them with the target's Fernet key."""
    _check_archive_key(reader, archive_key)
    if not target_key:
        raise WrongKey(
            "The target has no Fernet key to encrypt connections and variables with. Pass "
            "--target-fernet-key (the target's [core] fernet_key), or --secrets skip."
        )
    return sec.SecretCodec(archive_key, target_key, "archive key", "target Fernet key")


def _check_archive_key(reader: ArchiveReader, archive_key: str | None) -> None:
    if not archive_key:
        raise WrongKey(
            "The archive holds sealed secrets: pass its key with --archive-key (or "
            "AIRSHIFT_ARCHIVE_KEY), or import without them using --secrets skip."
        )
    if sec.fingerprint(archive_key) != reader.manifest.secrets.get("key_fingerprint"):
        raise WrongKey("The archive key is wrong: it is not the key this archive was sealed with.")


def opened_rows(reader: ArchiveReader, name: str, archive_key: str | None) -> list[dict[str, Any]]:
    """Every row of the secret table ``name`` with its secrets opened, in memory only: for
    writing them to a secrets backend instead of a target database. Opening them all before
    anything is written means a wrong key or a damaged secret changes nothing."""
    if reader.manifest.secrets.get("mode") != "sealed":
        raise WrongKey(
            "The archive holds no secrets (it was exported with --secrets skip): there are "
            "no connections' secrets or variables to write. Export again with --secrets seal."
        )
    _check_archive_key(reader, archive_key)
    if name not in reader.manifest.tables:
        return []
    codec = sec.SecretCodec(archive_key, None, "archive key", "")
    spec = spec_of(name)
    rows = [row for batch in reader.iter_batches(name) for row in batch.to_pylist()]
    for row in rows:
        for col, flag in spec.secrets.items():
            if row.get(col) is not None:
                where = f"{name} {row[spec.named_by]!r} ({col})"
                row[col] = codec.open(row[col], where).decode()
            row[flag] = False
    return rows


def _reseal(rows, names, spec: TableSpec, codec: sec.SecretCodec | None):
    """Archive-sealed secrets -> the target's Fernet ciphertext (or left out, with codec None)."""
    flags = spec.secrets
    idx = {c: names.index(c) for c in flags if c in names}
    ident = names.index(spec.named_by)
    for r in rows:
        values = list(r)
        for col, i in idx.items():
            if values[i] is not None and codec is not None:
                values[i] = codec.reseal(values[i], True, f"{spec.name} {values[ident]!r} ({col})")
            elif codec is None:
                values[i] = None
            values[names.index(flags[col])] = values[i] is not None
        yield tuple(values)


def write_archive_table(
    conn: sa.Connection,
    reader: ArchiveReader,
    name: str,
    into: sa.Table,
    names: list[str],
    codec: sec.SecretCodec | None,
    on_batch: Callable[[int], None] | None = None,
) -> int:
    """Append archive table ``name``'s rows (columns ``names``) to ``into``; the count.

    Secret columns are re-sealed row by row (small tables); everything else goes in
    Arrow batches (``Backend.write_batches``).
    """

    def batches() -> Iterator[pa.RecordBatch]:
        for batch in reader.iter_batches(name):
            yield batch
            if on_batch:
                on_batch(batch.num_rows)

    spec = spec_of(name)
    backend, dest = backends.of(conn), Into(conn, into, names)
    if spec.secrets:
        rows = (r for b in batches() for r in batch_rows(b, names))
        return backend.write_rows(dest, _reseal(rows, names, spec, codec))
    return backend.write_batches(dest, batches())
