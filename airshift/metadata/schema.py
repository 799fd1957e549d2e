"""Reflect a live metadata database and map its column types to Arrow.

Why: the archive stores each table at the source's own schema, whatever the Airflow
version, so columns are discovered by reflection and never listed by hand. Values are
kept at full fidelity: timestamps as UTC microseconds, pickles and other binary columns
as raw bytes, JSON as its exact text.
"""

from __future__ import annotations

import datetime as dt
import decimal
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Engine

from airshift import backends


@dataclass(frozen=True)
class Column:
    name: str
    sql_type: str
    arrow: pa.DataType
    as_text: bool  # selected through CAST(... AS TEXT): JSON and other non-native types

    @property
    def meta(self) -> dict[str, str]:
        return {"name": self.name, "sql_type": self.sql_type, "arrow_type": str(self.arrow)}


def _arrow_for(t: sa.types.TypeEngine) -> tuple[pa.DataType, bool]:
    if isinstance(t, mysql.TINYINT) and getattr(t, "display_width", None) == 1:
        return pa.bool_(), False  # Airflow's Boolean on MySQL
    if isinstance(t, sa.Boolean):
        return pa.bool_(), False
    if isinstance(t, sa.Integer):
        return pa.int64(), False
    if isinstance(t, sa.Float | sa.Numeric):
        return pa.float64(), False
    if isinstance(t, sa.DateTime):
        return pa.timestamp("us", tz="UTC"), False
    if isinstance(t, sa.Date):
        return pa.date32(), False
    if isinstance(t, sa.LargeBinary | sa.types._Binary):
        return pa.large_binary(), False
    if isinstance(t, sa.JSON) or _is_uuid(t):  # read as text: the exact JSON, the canonical UUID
        return pa.large_string(), True
    if isinstance(t, sa.String | sa.Enum):
        return pa.large_string(), False
    return pa.large_string(), True


def _is_uuid(t: sa.types.TypeEngine) -> bool:
    """A UUID type, by name: SQLAlchemy 2's ``sa.Uuid`` (and the dialects' ``UUID`` built on
    it), or SQLAlchemy 1.4's ``postgresql.UUID``, which has no generic base (Airflow 2)."""
    return any(k.__name__ in ("Uuid", "UUID") for k in type(t).__mro__)


def reflect(engine: Engine) -> sa.MetaData:
    """Every table of the database as SQLAlchemy Table objects (types as the server reports)."""
    md = sa.MetaData()
    with warnings.catch_warnings():
        # SQLite reports Airflow's unnamed composite FKs oddly; they do not matter here.
        warnings.simplefilter("ignore", sa.exc.SAWarning)
        md.reflect(engine)
    return md


def columns_of(table: sa.Table, conn: sa.Connection | None = None) -> list[Column]:
    """Archive columns of ``table``; ``conn`` lets the data correct declared types (an
    SQLite INTEGER column may hold REALs, which an int64 column would truncate)."""
    real_ints = set() if conn is None else backends.of(conn).real_in_integer_columns(table, conn)
    out = []
    for c in table.columns:
        arrow, as_text = _arrow_for(c.type)
        if c.name in real_ints:
            arrow = pa.float64()
        try:
            sql_type = str(c.type.compile())
        except Exception:  # a dialect-only type with no generic rendering
            sql_type = type(c.type).__name__
        out.append(Column(c.name, sql_type, arrow, as_text))
    return out


def select_for(table: sa.Table, cols: list[Column]) -> sa.Select:
    """SELECT every column, JSON and unknown types as their text."""
    exprs = [
        sa.cast(table.c[c.name], sa.Text).label(c.name) if c.as_text else table.c[c.name]
        for c in cols
    ]
    return sa.select(*exprs)


def _to_text(v: object) -> str:
    return v if isinstance(v, str) else str(v)


def _to_bytes(v: Any) -> bytes:
    return v if isinstance(v, bytes) else bytes(v)  # memoryview, bytearray


def _to_int(v: object) -> int:
    if isinstance(v, float) and v.is_integer():
        return int(v)
    raise ValueError(f"{v!r} in an integer column")


def _to_float(v: object) -> object:
    return float(v) if isinstance(v, decimal.Decimal | int) else v


def _to_utc(v: object) -> object:
    if isinstance(v, dt.datetime) and v.tzinfo is not None:
        return v.astimezone(dt.timezone.utc)
    return v  # naive values are UTC already (MySQL with a UTC session, SQLite)


_CONVERT: dict[pa.DataType, Callable[[object], object]] = {
    pa.large_string(): _to_text,
    pa.large_binary(): _to_bytes,
    pa.float64(): _to_float,
    pa.int64(): _to_int,
    pa.timestamp("us", tz="UTC"): _to_utc,
    pa.bool_(): bool,
}


def to_batch(rows: list[tuple], cols: list[Column], schema: pa.Schema) -> pa.RecordBatch:
    """Rows from the driver as one Arrow batch, column by column.

    Arrow converts a column in C when its values are what it expects (the common case);
    only a column it refuses (MySQL's 0/1 booleans, Decimals, UUIDs...) is converted value
    by value. Floats and Decimals in an integer column always take the checked path:
    Arrow would truncate 1.5 to 1 without a word.
    """
    arrays = []
    for i, c in enumerate(cols):
        values = [r[i] for r in rows]
        arrays.append(_array(values, c.arrow))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _array(values: list, arrow: pa.DataType) -> pa.Array:
    conv = _CONVERT.get(arrow)
    if conv is None:
        return pa.array(values, type=arrow)
    if arrow != pa.int64() or not any(isinstance(v, float | decimal.Decimal) for v in values):
        try:
            return pa.array(values, type=arrow)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            pass
    return pa.array([None if v is None else conv(v) for v in values], type=arrow)


def arrow_schema(cols: list[Column]) -> pa.Schema:
    return pa.schema([pa.field(c.name, c.arrow) for c in cols])
