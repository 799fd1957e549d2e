"""What is in a metadata database or an archive, and what will not migrate cleanly."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from airshift.archive import ArchiveReader
from airshift.metadata.roles import custom_roles
from airshift.metadata.source import AirflowDB

PICKLE_MARK = b"\x80"  # every pickle protocol >= 2 starts with this byte


def migration_issues(source: AirflowDB, conn: sa.Connection) -> dict[str, int]:
    """Rows Airflow 3's own migration drops or cannot carry (see docs/migration-losses)."""
    md, issues = source.metadata, dict[str, int]()
    if source.revision.major >= 3:
        return issues
    if "xcom" in md.tables:
        x = md.tables["xcom"]
        issues["pickled_xcoms"] = conn.execute(
            sa.select(sa.func.count()).where(sa.func.substr(x.c.value, 1, 1) == PICKLE_MARK)
        ).scalar_one()
    if "conf" in md.tables["dag_run"].c:
        r = md.tables["dag_run"]
        issues["pickled_conf"] = conn.execute(
            sa.select(sa.func.count()).where(r.c.conf.is_not(None))
        ).scalar_one()
    for name in ("sla_miss", "task_fail", "dag_pickle"):
        if name in md.tables:
            issues[name] = conn.execute(
                sa.select(sa.func.count()).select_from(md.tables[name])
            ).scalar_one()
    return issues


def inspect_database(source: AirflowDB) -> dict[str, Any]:
    md = source.metadata
    with source.engine.connect() as conn:
        sizes = source.backend.table_bytes(conn)
        tables = [
            {
                "name": name,
                "rows": conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one(),
                "bytes": sizes.get(name),
            }
            for name, t in sorted(md.tables.items())
        ]
        dag = md.tables.get("dag")
        dags = {"total": 0, "paused": 0}
        if dag is not None:
            for paused, n in conn.execute(
                sa.select(dag.c.is_paused, sa.func.count()).group_by(dag.c.is_paused)
            ):
                dags["total"] += n
                dags["paused"] += n if paused else 0
        run = md.tables["dag_run"]
        date = run.c[source.run_date_column]
        first, last, runs = conn.execute(
            sa.select(sa.func.min(date), sa.func.max(date), sa.func.count())
        ).one()
        issues = migration_issues(source, conn)
    return {
        "kind": "database",
        "url": source.safe_url,
        "backend": source.backend.name,
        "alembic_revision": source.revision.revision,
        "airflow_version": source.revision.label,
        "tables": tables,
        "dags": dags,
        "history": {
            "runs": runs,
            "first": first.isoformat() if first else None,
            "last": last.isoformat() if last else None,
        },
        "migration_issues": issues,
    }


def inspect_archive(reader: ArchiveReader, verify: bool = True) -> dict[str, Any]:
    m = reader.manifest
    return {
        "kind": "archive",
        "url": reader.url,
        "format_version": m.format_version,
        "created_at": m.created_at,
        "source": m.source,
        "filters": m.filters,
        "secrets": m.secrets,
        "tables": [
            {
                "name": t.name,
                "rows": t.rows,
                "bytes": sum(f.bytes for f in t.files),
                "files": len(t.files),
            }
            for t in sorted(m.tables.values(), key=lambda t: t.name)
        ],
        "skipped_tables": m.skipped_tables,
        "custom_roles": custom_roles(reader),
        "problems": reader.verify() if verify else None,
    }
