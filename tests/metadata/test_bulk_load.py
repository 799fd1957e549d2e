"""The bulk paths into PostgreSQL: Arrow -> CSV -> COPY, and the scratch load that sets
foreign keys and indexes aside. Real PostgreSQL, real Airflow schemas."""

from __future__ import annotations

import datetime as dt
import json
import time

import psycopg
import pyarrow as pa
import pytest
import sqlalchemy as sa

from airshift import versions
from airshift.archive import ArchiveReader
from airshift.backends import PostgreSQL
from airshift.backends.base import Into
from airshift.backends.postgresql import ahead
from airshift.metadata import scratch
from airshift.metadata.source import AirflowDB
from tests.metadata.test_export import airshift

AWKWARD_TEXT = ["", None, 'quote " and, comma', "new\nline\r\n", "back\\slash \\N", "ünï ✓", "NULL"]
AWKWARD_BYTES = [b"", None, b"\x00\x01\xff\\x", "pickled ✓".encode(), b'\n,"', b"x" * 5000, b"\\N"]


def test_arrow_batches_reach_postgresql_exactly(empty_database) -> None:
    url = empty_database("postgresql")
    engine = sa.create_engine(url)
    md = sa.MetaData()
    table = sa.Table(
        "t",
        md,
        sa.Column("s", sa.Text),
        sa.Column("v", sa.String(250)),
        sa.Column("b", sa.LargeBinary),
        sa.Column("ts", sa.DateTime(timezone=True)),
        sa.Column("ok", sa.Boolean),
        sa.Column("f", sa.Float),
        sa.Column("i", sa.BigInteger),
        sa.Column("j", sa.JSON),
    )
    n = len(AWKWARD_TEXT)
    stamps = [dt.datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=dt.timezone.utc), None]
    floats = [0.1 + 0.2, None, 1e-300, -2.5e300, 3.0, 0.0, 123456.789012345]
    batch = pa.record_batch(
        {
            "s": pa.array(AWKWARD_TEXT, pa.large_string()),
            "v": pa.array(list(reversed(AWKWARD_TEXT)), pa.large_string()),
            "b": pa.array(AWKWARD_BYTES, pa.large_binary()),
            "ts": pa.array((stamps * n)[:n], pa.timestamp("us", tz="UTC")),
            "ok": pa.array([True, None, False] * 2 + [True]),
            "f": pa.array(floats, pa.float64()),
            "i": pa.array([2**62, None, -1, 0, 7, 8, 9], pa.int64()),
            "j": pa.array(['{"a": [1, "x,\\"y"]}', None, "[]", "{}", "1", '"s"', "null"]),
        }
    )
    try:
        md.create_all(engine)
        with engine.begin() as conn:
            # two batches into one COPY
            into = Into(conn, table, batch.schema.names)
            written = PostgreSQL().write_batches(into, [batch, batch.slice(0, 2)])
            assert written == n + 2
        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
            got = conn.execute("SELECT s, v, b, ts, ok, f, i, j::text FROM t").fetchall()
    finally:
        engine.dispose()
    want = batch.to_pylist() + batch.slice(0, 2).to_pylist()
    assert len(got) == len(want)
    for row, exp in zip(got, want, strict=True):
        s, v, b, ts, ok, f, i, j = row
        assert (s, v, ok, f, i) == (exp["s"], exp["v"], exp["ok"], exp["f"], exp["i"])
        assert (bytes(b) if b is not None else None) == exp["b"]
        assert ts == exp["ts"]
        assert (json.loads(j) if j is not None else None) == (
            json.loads(exp["j"]) if exp["j"] is not None else None
        )


def _schema_objects(url: str) -> tuple[list, list]:
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        fks = conn.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), convalidated "
            "FROM pg_constraint WHERE contype = 'f' ORDER BY 1, 2"
        ).fetchall()
        indexes = conn.execute(
            "SELECT tablename, indexname, indexdef FROM pg_indexes "
            "WHERE schemaname = 'public' ORDER BY 1, 2"
        ).fetchall()
    return fks, indexes


def _plain_index_oids(url: str) -> dict[str, tuple[str, int]]:
    """index -> (its table, its oid): a new oid is an index dropped and made again."""
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        rows = conn.execute(
            "SELECT i.indexrelid::regclass::text, i.indrelid::regclass::text, i.indexrelid::int "
            "FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
            "WHERE c.relnamespace = 'public'::regnamespace AND NOT i.indisunique"
        ).fetchall()
    return {name: (table, oid) for name, table, oid in rows}


def test_scratch_load_puts_back_every_foreign_key_and_index(
    clone_db, tmp_path, monkeypatch
) -> None:
    """Every foreign key and index is back after the load, and only the tables that take
    rows had theirs set aside (a delta leaves half the tables empty: their indexes are
    never dropped and re-made)."""
    src = clone_db("2.10.5", "postgresql")
    archive = tmp_path / "archive"
    proc = airshift("export", src.url, "--to", str(archive), "--secrets", "skip", "--json")
    assert proc.returncode == 0, proc.stderr
    target = clone_db("2.10.5", "postgresql", "target")
    before, oids = _schema_objects(target.url), _plain_index_oids(target.url)
    assert before[0] and before[1]
    reader = ArchiveReader(str(archive))
    sdb = AirflowDB.open(target.url)
    try:
        report = scratch.load_archive(reader, sdb, None, None, skip_secrets=True, jobs=3)
    finally:
        sdb.dispose()
    assert _schema_objects(target.url) == before
    rows = {n: t.rows for n, t in reader.manifest.tables.items()}
    remade = {n for n, oid in _plain_index_oids(target.url).items() if oid != oids[n]}
    filled = {n for n, (table, _) in oids.items() if rows.get(table)}
    assert remade == filled and filled and len(filled) < len(oids)
    expected = {n: t.rows for n, t in reader.manifest.tables.items() if n != "variable"}
    assert {n: c for n, c in report.loaded.items() if n in expected} == expected


def test_import_into_an_empty_target_rebuilds_indexes_exactly_and_online_keeps_them(
    clone_db, tmp_path
) -> None:
    """The merge sets a table's plain indexes and foreign keys aside when it brings more
    rows than the target holds, and puts back exactly what was there; ``--online`` never
    does, and both leave the same rows."""
    src = clone_db("2.10.5", "postgresql")
    archive = tmp_path / "archive"
    proc = airshift("export", src.url, "--to", str(archive), "--secrets", "skip", "--json")
    assert proc.returncode == 0, proc.stderr
    counts = {}
    for mode in ([], ["--online"]):
        target = clone_db("2.10.5", "postgresql", "target")
        before = _schema_objects(target.url)
        proc = airshift("import", str(archive), target.url, "--secrets", "skip", "--json", *mode)
        assert proc.returncode == 0, proc.stderr[-3000:]
        tables = json.loads(proc.stdout)["merge"]["tables"]
        rebuilt = {n for n, t in tables.items() if t["indexes_rebuilt"]}
        assert _schema_objects(target.url) == before
        if mode:
            assert rebuilt == set()
        else:
            assert {"dag_run", "task_instance", "xcom", "task_fail"} <= rebuilt
        counts[bool(mode)] = {n: t["inserted"] for n, t in tables.items()}
    assert counts[True] == counts[False]
    assert counts[True]["task_instance"] > 0


def test_ahead_hands_over_items_and_errors_and_stops_its_producer() -> None:
    assert list(ahead(iter(range(10)))) == list(range(10))

    def failing():
        yield 1
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        list(ahead(failing()))
    produced: list[int] = []

    def endless():
        while True:
            produced.append(len(produced))
            yield produced[-1]

    items = ahead(endless(), depth=2)
    assert next(items) == 0
    items.close()  # the consumer stops early: so does the producer
    stopped_at = len(produced)
    time.sleep(0.3)
    assert len(produced) == stopped_at <= 4


def _persistence(url: str) -> dict[str, str]:
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        rows = conn.execute(
            "SELECT relname, relpersistence FROM pg_class "
            "WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace"
        ).fetchall()
    return dict(rows)


def _history_loaded(clone_db, tmp_path, keep_logged: frozenset[str] | None):
    """The real 2.10.5 history exported and loaded by the scratch load into an empty
    2.10.5 schema (``keep_logged`` as the import passes it): that database, the archive,
    the load's report."""
    src = clone_db("2.10.5", "postgresql")
    archive = tmp_path / "archive"
    proc = airshift("export", src.url, "--to", str(archive), "--secrets", "skip", "--json")
    assert proc.returncode == 0, proc.stderr
    target = clone_db("2.10.5", "postgresql", "target")
    reader = ArchiveReader(str(archive))
    sdb = AirflowDB.open(target.url)
    try:
        report = scratch.load_archive(
            reader, sdb, None, None, skip_secrets=True, keep_logged=keep_logged
        )
    finally:
        sdb.dispose()
    return target, reader, report


def test_a_disposable_scratch_is_unlogged_and_airflow_still_migrates_it(
    clone_db, tmp_path, monkeypatch
) -> None:
    """The scratch load makes the tables nobody references UNLOGGED (no write-ahead log
    for a disposable database), keeps those it is told the target references logged, and
    when one of Airflow's migrations makes a logged table reference an unlogged one (3.1's
    ``hitl_detail_history`` -> ``task_instance_history``), the table it references becomes
    logged and the migrations go on."""
    monkeypatch.setattr(scratch, "UNLOG_FROM_ROWS", 0)  # the fixture's few rows, as a big load
    target, _, report = _history_loaded(clone_db, tmp_path, frozenset({"job"}))
    assert report.loaded["log"] > 0
    before = _persistence(target.url)
    leaves = {"log", "xcom", "rendered_task_instance_fields", "task_instance_history"}
    assert {before[n] for n in leaves} == {"u"}
    # referenced by another table, or by the target (as told): logged
    assert {before[n] for n in ("dag_run", "task_instance", "dag", "job")} == {"p"}
    scratch.migrate_to("3.3.2", versions.head_of("3.3.2") or "", target.url, tmp_path / "home")
    after = _persistence(target.url)
    assert "hitl_detail_history" in after
    # only the table the refused statement referenced was made logged
    assert after["task_instance_history"] == "p"
    assert {after[n] for n in leaves - {"task_instance_history"}} == {"u"}
    with psycopg.connect(target.url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        rev = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    assert rev == (versions.head_of("3.3.2"),)


def test_a_small_table_stays_logged_and_airflow_migrates_it_in_one_run(
    clone_db, tmp_path, monkeypatch
) -> None:
    """A table of a few thousand rows (a cutover's delta) is not made UNLOGGED: that saves
    milliseconds and cost seconds, a second run of Airflow's migrations when 3.x references
    2.x's ``callback_request`` as ``callback``. One run of ``db migrate`` takes it to 3.3.2."""
    target, reader, report = _history_loaded(clone_db, tmp_path, None)
    assert max(t.rows for t in reader.manifest.tables.values()) < scratch.UNLOG_FROM_ROWS
    assert report.loaded["log"] > 0
    assert set(_persistence(target.url).values()) == {"p"}
    refused = []
    mend = PostgreSQL.mend_migration
    monkeypatch.setattr(
        PostgreSQL,
        "mend_migration",
        lambda self, url, exc: refused.append(exc) or mend(self, url, exc),
    )
    scratch.migrate_to("3.3.2", versions.head_of("3.3.2") or "", target.url, tmp_path / "home")
    assert refused == []
