"""The AWS-sample approach to moving Airflow metadata, as a baseline.

Why: the widely copied AWS MWAA sample (``mwaa-export``/``db_export``) moves a metadata
database by reading every table through SQLAlchemy with ``fetchmany(5000)``, writing CSV
files, and loading them into the new database with ``COPY ... FROM``. This module does
exactly that (same batch size, the default client-side cursor the sample uses, CSV on
disk) so its time and peak memory can be measured beside airshift on the same database.
Values are written so that the round trip is faithful (NULL marker, bytea as hex, JSON as
text), which the sample itself does not always get right.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
from pathlib import Path

import sqlalchemy as sa

NULL = r"\N"


def _cell(v):
    if v is None:
        return NULL
    if isinstance(v, (bytes, memoryview)):
        return "\\x" + bytes(v).hex()
    if isinstance(v, (dict, list)):
        return json.dumps(v)
    if isinstance(v, dt.datetime):
        return v.isoformat()
    return v


def _engine(url: str) -> sa.Engine:
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return sa.create_engine(url)


def export(url: str, folder: Path) -> int:
    """Every non-empty table of ``url`` into ``folder/<table>.csv``; returns rows written."""
    folder.mkdir(parents=True, exist_ok=True)
    engine = _engine(url)
    md = sa.MetaData()
    md.reflect(engine)
    total = 0
    with engine.connect() as conn:
        for table in md.sorted_tables:
            result = conn.execute(sa.select(table))
            with open(folder / f"{table.name}.csv", "w", newline="") as f:
                w = csv.writer(f)
                w.writerow(result.keys())
                while rows := result.fetchmany(5000):
                    w.writerows([_cell(v) for v in r] for r in rows)
                    total += len(rows)
    engine.dispose()
    return total


def load(url: str, folder: Path) -> int:
    """``COPY ... FROM`` every CSV of ``folder`` into the (schema-only) database at ``url``,
    parents before children; returns rows loaded."""
    engine = _engine(url)
    md = sa.MetaData()
    md.reflect(engine)
    total = 0
    with engine.begin() as conn:
        cur = conn.connection.driver_connection.cursor()
        for table in md.sorted_tables:
            path = folder / f"{table.name}.csv"
            if not path.exists() or table.name == "alembic_version":
                continue
            with open(path, "rb") as f:
                header = f.readline().decode().strip()
                cols = ", ".join(f'"{c}"' for c in next(csv.reader([header])))
                with cur.copy(
                    f"COPY \"{table.name}\" ({cols}) FROM STDIN WITH (FORMAT csv, NULL '{NULL}')"
                ) as copy:
                    while chunk := f.read(1 << 20):
                        copy.write(chunk)
            total += cur.rowcount if cur.rowcount and cur.rowcount > 0 else 0
    engine.dispose()
    return total


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("step", choices=["export", "load"])
    p.add_argument("url")
    p.add_argument("folder", type=Path)
    a = p.parse_args(argv)
    n = (export if a.step == "export" else load)(a.url, a.folder)
    print(json.dumps({"rows": n}))


if __name__ == "__main__":
    main()
