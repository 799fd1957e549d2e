"""The work units of a partitioned export (bench/partitioned.py) lose and repeat no row.

Why: the benchmark's speed-up means nothing unless the units together are the export. On
a scaled real 2.10.5 database this plans the units, runs them as the benchmark does (two
at a time, each its own ``airshift export``) and compares their archives with the source
itself, row by row: every DAG in exactly one group, no table in two kinds of unit, and
every exported table's rows, in all the units together, exactly the source's. Nothing is
timed.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.fernet import Fernet

from airshift.archive import ArchiveReader
from airshift.metadata.registry import spec_of
from airshift.metadata.source import AirflowDB
from bench import generate, partitioned, run
from tests import rows


def test_units_are_disjoint_and_cover_the_source(clone_db, tmp_path: Path) -> None:
    src = clone_db("2.10.5", "postgresql")
    plain = src.url.replace("postgresql+psycopg://", "postgresql://")
    generate.scale(plain, 200, log=lambda m: None)
    units = partitioned.plan(src.url, groups=3)

    (rest,) = [u for u in units if u.whole]
    groups = [u for u in units if not u.whole]
    assert len(groups) == 3
    dags = [d for u in groups for d in u.dag_ids]
    assert len(dags) == len(set(dags)) == 4  # the fixture's four DAGs, each in one group
    assert all(u.tables == rest.tables for u in groups)  # the rest unit excludes these
    assert {"dag_run", "task_instance", "xcom", "dag"} <= set(rest.tables)
    # Rows without a DAG (scheduler jobs, UI events) and the secrets stay whole.
    assert not {"job", "log", "connection", "variable", "dataset_event"} & set(rest.tables)

    key = Fernet.generate_key().decode()

    def command(to: Path, *extra: str) -> list[str]:
        return run.export_command(src.name, to, src.fixture.fernet_key, key, *extra)

    _, done, counted = partitioned.run_units(units, 2, command, tmp_path)
    assert [d.unit for d in done] == [u.name for u in units]
    readers = {u.name: ArchiveReader(str(tmp_path / u.name)) for u in units}
    # The audit log's secrets were masked: the secret tables were read in its unit.
    assert readers["rest"].manifest.secrets["log_values_redacted"] > 0
    in_archives = {t for r in readers.values() for t in r.manifest.tables}
    source = AirflowDB.open(src.url)
    missing = set(source.metadata.tables) - in_archives
    source.dispose()
    assert missing and all(spec_of(t).not_exported for t in missing)  # never exported at all
    for table in sorted(in_archives):
        spec = spec_of(table)
        got = [
            row
            for name, r in readers.items()
            if table in r.manifest.tables
            for row in rows.archive_rows(str(tmp_path / name), r.manifest.tables[table])
        ]
        if spec.secrets or spec.redact:  # sealed or masked: compared by count
            assert len(got) == rows.count(src.url, table), table
            continue
        entry = next(
            r.manifest.tables[table] for r in readers.values() if table in r.manifest.tables
        )
        types = {c["name"]: c["sql_type"] for c in entry.columns}
        assert rows.canon(got) == rows.canon(rows.source_rows(src.url, table, types)), table
    assert partitioned.lossless({t: rows.count(src.url, t) for t in in_archives}, counted) == {}
