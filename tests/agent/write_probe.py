"""Run by a runtime's own Python: airshift's PostgreSQL writes with the driver it has.

``python write_probe.py SERVER_URL PREFIX`` makes two databases (PREFIX_a, PREFIX_b), fills
a table in the first with ``Backend.write_batches`` and ``write_rows``, copies it into the
second with ``copy_rows`` (server to server), and prints JSON: the backend's class, and
both tables' rows as the raw driver reads them back. The databases are dropped on exit.
"""

from __future__ import annotations

import datetime as dt
import json
import sys

import pyarrow as pa
import sqlalchemy as sa

from airshift import backends, db
from airshift.backends.base import Into

NAMES = ["id", "s", "b", "ts", "j", "f"]
WHEN = dt.datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=dt.timezone.utc)
BATCH = [  # CSV's hard cases: quotes, commas, newlines, empty vs NULL, empty bytes
    (1, 'a,"b"\nc', b"\x00\x01", WHEN, '{"a": 1}', 1.5),
    (2, "", None, None, None, None),
    (3, None, b"", WHEN, "[]", 2.0),
]
ROW = (10, "x\\y", b"\xff", WHEN, '{"z": null}', 3.25)


def main(server: str, prefix: str) -> None:
    urls = []
    for suffix in ("a", "b"):
        db.drop_database(server, f"{prefix}_{suffix}")
        urls.append(db.create_database(server, f"{prefix}_{suffix}"))
    engines = [db.engine_for(u) for u in urls]
    try:
        for e in engines:
            with e.begin() as c:
                c.exec_driver_sql(
                    "CREATE TABLE t (id int PRIMARY KEY, s text, b bytea, ts timestamptz, "
                    "j json, f float8)"
                )
        table = sa.Table("t", sa.MetaData(), autoload_with=engines[0])
        columns = list(zip(*BATCH, strict=True))
        types = [pa.int64(), pa.large_string(), pa.large_binary(), pa.timestamp("us", "UTC")]
        types += [pa.large_string(), pa.float64()]
        batch = pa.record_batch(
            [pa.array(c, t) for c, t in zip(columns, types, strict=True)], names=NAMES
        )
        with engines[0].begin() as c:
            backend = backends.of(c)
            written = backend.write_batches(Into(c, table, NAMES), [batch, batch.slice(0, 0)])
            written += backend.write_rows(Into(c, table, NAMES), [ROW])
        with engines[0].connect() as src, engines[1].begin() as c:
            query = sa.select(table).order_by(table.c.id)
            copied = backends.of(c).copy_rows(src, query, Into(c, table, NAMES))
        read = []
        for e in engines:
            with e.connect() as c:
                raw = c.exec_driver_sql("SELECT id, s, b, ts, j::text, f FROM t ORDER BY id")
                read.append([[_plain(v) for v in r] for r in raw])
        print(json.dumps({"backend": type(backend).__name__, "sqlalchemy": sa.__version__,
                          "written": written, "copied": copied, "tables": read}))  # fmt: skip
    finally:
        for e in engines:
            e.dispose()
        for suffix in ("a", "b"):
            db.drop_database(server, f"{prefix}_{suffix}")


def _plain(v: object) -> object:
    if isinstance(v, bytes | memoryview):
        return bytes(v).hex()
    if isinstance(v, dt.datetime):
        return v.astimezone(dt.timezone.utc).isoformat()
    return v


def expected() -> list[list[object]]:
    """The rows every driver must read back."""
    return [[_plain(v) for v in r] for r in [*BATCH, ROW]]


if __name__ == "__main__":
    main(*sys.argv[1:3])
