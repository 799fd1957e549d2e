"""The agent's one door into airshift's library: export and import as the CLI runs them.

Why one module: the agent calls airshift's library here and nowhere else. The upgrade is
``airshift.api.upgrade``; export and import open the environment's database themselves,
because the agent checks it first (the archive's revision, the key it was given), and then
run the pipelines ``airshift.api`` runs (``metadata.extract.export``,
``metadata.importer.import_archive``). Everything it returns is plain JSON-able data: the
job process stores it as the job's report.

What the agent refuses that the CLI allows, and why: an export that seals secrets needs
the user's *public* key (an agent never makes a key that opens its own archive). An
import of an archive at an older schema runs only when asked (``upgrade_in_target``),
and then with the environment's own Airflow alone (an environment installs no other
release): it builds a scratch *schema* in the environment's database at the archive's
revision (Airflow 3's chain starts at the squashed 2.6.2 base), loads the archive, runs
its migrations, and merges from there. Otherwise the CLI upgrades the archive on the
user's machine first (``remote.migrate``).
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from airshift import airflow_env, versions
from airshift.agent.protocol import JobRequest
from airshift.archive import ArchiveReader, sealed
from airshift.choices import ExportSecrets, OnConflict, Unpause
from airshift.errors import AirshiftError
from airshift.progress import Progress

Log = Callable[[str], object]


def export(
    db_url: str, fernet_key: str | None, job: JobRequest, progress: Progress, log: Log
) -> dict[str, Any]:
    """Export the environment's database to ``job.archive``; the export's summary."""
    from airshift.metadata.extract import ExportSettings
    from airshift.metadata.extract import export as run_export
    from airshift.metadata.selection import Selection, parse_since
    from airshift.metadata.source import AirflowDB

    o = job.options
    if o["secrets"] == "seal" and not (job.key and job.key.startswith(sealed.PUBLIC_PREFIX)):
        raise AirshiftError(
            "An export through the agent seals secrets to the user's public key, and none was "
            "given (or leave secrets out with secrets=skip)."
        )
    selection = Selection(
        o["dag_ids"], parse_since(o["since"]), o["last_runs"], o["include"], o["exclude"]
    )
    db = AirflowDB.open(db_url)
    try:
        log(f"exporting {db.revision.label} ({db.backend.name}) to {job.archive}")
        result = run_export(
            db,
            ExportSettings(
                archive_url=job.archive,
                selection=selection,
                fernet_key=fernet_key,
                archive_key=job.key if o["secrets"] == "seal" else None,
                secrets=ExportSecrets(o["secrets"]),
                pause=o["pause"],
                jobs=o["jobs"],
            ),
            progress,
        )
    finally:
        db.dispose()
    m = result.manifest
    return {
        "archive": result.archive_url,
        "source": {k: v for k, v in m.source.items() if k != "url"},
        "tables": {n: t.rows for n, t in sorted(m.tables.items())},
        "rows": sum(t.rows for t in m.tables.values()),
        "skipped_tables": m.skipped_tables,
        "secrets": m.secrets["mode"],
        "key_fingerprint": m.secrets.get("key_fingerprint"),
    }


def import_(
    db_url: str, fernet_key: str | None, job: JobRequest, progress: Progress, log: Log
) -> dict[str, Any]:
    """Merge ``job.archive`` into the environment's database; the import report."""
    from airshift.metadata.importer import ImportSettings, import_archive
    from airshift.metadata.source import AirflowDB

    o = job.options
    reader = ArchiveReader(job.archive)
    db = AirflowDB.open(db_url)
    try:
        archived = reader.manifest.source["alembic_revision"]
        if archived != db.revision.revision and not o["upgrade_in_target"]:
            release = (db.revision.releases or (db.revision.introduced_in,))[-1]
            raise AirshiftError(
                f"The archive is at {versions.describe(archived).label} ({archived}) and this "
                f"environment at {db.revision.label} ({db.revision.revision}). Upgrade it on "
                f"your machine first (`airshift upgrade ARCHIVE --to {release} --out NEW`), or "
                "here, with this environment's own Airflow (`--upgrade-in target`)."
            )
        if archived != db.revision.revision:
            log(f"upgrading the archive here with Airflow {airflow_version()}, in a scratch schema")
            airflow_env.confine(_own_airflow())
        log(f"importing {job.archive} into {db.revision.label} ({db.backend.name})")
        report = import_archive(
            reader,
            db,
            ImportSettings(
                archive_key=job.key,
                target_fernet_key=fernet_key,
                on_conflict=OnConflict(o["on_conflict"]),
                dry_run=o["dry_run"],
                unpause=Unpause(o["unpause"]),
                skip_secrets=o["secrets"] == "skip" or bool(o["secrets_elsewhere"]),
                secrets_elsewhere=o["secrets_elsewhere"],
                link_dag_versions=o["link_dag_versions"],
                jobs=o["jobs"],
                online=o["online"],
                scratch_in_target=True,
            ),
            progress,
            log=log,
        )
    finally:
        db.dispose()
    return report.as_dict()


def airflow_version() -> str:
    """The Airflow release this process runs in (the environment's)."""
    from airflow import __version__

    return __version__


def _own_airflow() -> airflow_env.AirflowEnv:
    """The environment's own Airflow CLI: beside this interpreter (a virtualenv), else the
    one on PATH (MWAA's images install Airflow with ``pip --user``, into ~/.local)."""
    beside = Path(sys.prefix) / "bin" / "airflow"
    found = beside if beside.exists() else Path(shutil.which("airflow") or beside)
    return airflow_env.AirflowEnv(airflow_version(), found.parent.parent)


def check_direction(source_revision: str, target_revision: str) -> None:
    """Refuse to move history to an older schema, or into one newer than the merge knows
    (the importer's own rules), before anything is exported or sent."""
    from airshift.metadata.importer import check_direction as check
    from airshift.metadata.importer import check_mergeable

    check(source_revision, target_revision)
    check_mergeable(target_revision)


def release_with_head(revision: str) -> str:
    """A release whose schema head is ``revision``: what an archive is upgraded to."""
    known = versions.describe(revision)
    if not known.releases:
        raise AirshiftError(
            f"The target's schema ({revision}) is between Airflow releases: airshift upgrades "
            "archives to released schemas only."
        )
    return known.releases[-1]


def upgrade(
    archive: str,
    release: str,
    out: str,
    key: str | None,
    progress: Progress,
    log: Log,
    scratch_url: str | None = None,
    jobs: int = 1,
) -> dict[str, Any]:
    """Upgrade ``archive`` to ``release``'s schema into ``out`` on this machine (Airflow's
    own migrations in a scratch database); secrets stay sealed with the same key pair."""
    from airshift import api

    opts = api.UpgradeOptions(
        archive, release, out, archive_key=key, scratch_url=scratch_url, jobs=jobs
    )
    return api.upgrade(opts, progress, log).as_dict()


def differing(report: dict[str, Any]) -> bool:
    """Does an import report show rows that differ from the archive after the merge?"""
    merge = report.get("merge") or {}
    return any(t.get("differing") for t in merge.get("tables", {}).values())
