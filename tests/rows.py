"""Test-side reading of databases and archives, independent of airshift's own conversion code.

Why: a test that compared airshift's output with airshift's own reading could not fail.
These helpers read the source through the raw DB-API cursor and normalise values in the
simplest way (UTC ISO text, hex bytes, parsed JSON), then compare.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal

import pyarrow.parquet as pq
import sqlalchemy as sa

from airshift import db as adb


def norm(value, sql_type: str = "", json_is_text: bool = True):
    if value is None:
        return None
    is_json = json_is_text and "JSON" in sql_type.upper()
    if isinstance(value, str) and any(t in sql_type.upper() for t in ("TIMESTAMP", "DATETIME")):
        value = dt.datetime.fromisoformat(value)  # SQLite keeps timestamps as text
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc).isoformat()
    if isinstance(value, bytes | memoryview | bytearray):
        return bytes(value).hex()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if is_json and isinstance(value, str):
        return json.loads(value)
    if isinstance(value, bool):
        return int(value)
    return value


def canon(rows: list[tuple]) -> list[str]:
    return sorted(json.dumps(r, sort_keys=True, default=str) for r in rows)


def source_rows(url: str, table: str, types: dict[str, str]) -> list[tuple]:
    columns = list(types)
    engine = adb.engine_for(url)
    try:
        with engine.connect() as conn:
            q = f"SELECT {', '.join(_quote(engine, c) for c in columns)} FROM {_quote(engine, table)}"
            raw = conn.exec_driver_sql(q).fetchall()
    finally:
        engine.dispose()
    as_text = engine.dialect.name != "postgresql"  # psycopg hands JSON over already parsed
    return [tuple(norm(v, types[c], as_text) for v, c in zip(r, columns, strict=True)) for r in raw]


def archive_rows(root: str, entry) -> list[tuple]:
    types = {c["name"]: c["sql_type"] for c in entry.columns}
    out = []
    for f in entry.files:
        for rec in pq.read_table(f"{root}/{f.path}").to_pylist():
            out.append(tuple(norm(rec[n], t) for n, t in types.items()))
    return out


def _quote(engine: sa.Engine, name: str) -> str:
    return engine.dialect.identifier_preparer.quote(name)


def count(url: str, table: str, where: str = "") -> int:
    engine = adb.engine_for(url)
    try:
        with engine.connect() as conn:
            return conn.exec_driver_sql(
                f"SELECT COUNT(*) FROM {_quote(engine, table)} {where}"
            ).scalar_one()
    finally:
        engine.dispose()
