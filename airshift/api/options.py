"""What a caller asks each command for: the options of the CLI, as types.

Why separate dataclasses from the pipelines' own settings: these say what a person says
(locations as text, a key or the AIRFLOW_HOME to read it from, enums for choices, "the
default number of jobs"), and ``airshift.api`` resolves them into what the pipelines take
(``extract.ExportSettings``, ``importer.ImportSettings``) in one place, for the CLI and
every other caller alike.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from airshift.choices import CutoverPhase, ExportSecrets, ImportSecrets, OnConflict, Unpause
from airshift.logs.naming import RECORDED
from airshift.metadata.selection import Selection


@dataclass
class ExportOptions:
    """``airshift export``: a database into a new archive."""

    source: str  # metadata database URL or SQLite file
    to: str  # archive location: a new folder, file:// or s3:// URL
    selection: Selection = field(default_factory=Selection)
    fernet_key: str | None = None  # the source's; else AIRFLOW__CORE__FERNET_KEY or airflow.cfg
    airflow_home: str | None = None  # the source's AIRFLOW_HOME, to read its airflow.cfg
    archive_key: str | None = None  # seals secrets; generated (and reported once) when None
    secrets: ExportSecrets = ExportSecrets.SEAL
    pause: bool = False  # pause the exported DAGs during the export, restore after
    jobs: int | None = None  # tables read at once; None: the CPU count, at most 4


@dataclass
class _IntoTarget:
    """What every command that writes into (or compares with) a target is told."""

    target: str  # target metadata database URL (made by its own `airflow db migrate`)
    target_fernet_key: str | None = None  # else read from target_airflow_home's airflow.cfg
    target_airflow_home: str | None = None
    scratch_url: str | None = None  # default: a temporary database on the target's server
    airflow_venvs: list[str] = field(default_factory=list)  # VERSION=PATH, installed by hand


@dataclass
class _Merging(_IntoTarget):
    """What an import into a live target is told, whether from an archive or a database."""

    on_conflict: OnConflict = OnConflict.SKIP
    unpause: Unpause = Unpause.SOURCE_STATE
    secrets: ImportSecrets = ImportSecrets.IMPORT
    # aws-secretsmanager://[CONNECTIONS_PREFIX,VARIABLES_PREFIX][?region=R]: connections and
    # variables go to Secrets Manager, named as Airflow's SecretsManagerBackend reads them,
    # instead of the target's database (``--on-conflict overwrite`` replaces other values)
    secrets_to: str | None = None
    convert_pickled: bool = False  # unpickle 2.x pickled XComs into JSON (runs their code)
    dry_run: bool = False  # report what would be inserted, skipped and lost; change nothing
    jobs: int | None = None  # tables loaded at once; None: the CPU count, at most 4
    online: bool = False  # never lock a target table (slower)


@dataclass(kw_only=True)
class ImportOptions(_Merging):
    """``airshift import``: an archive's history merged into a live target."""

    archive: str  # made by `airshift export` or `airshift upgrade`
    archive_key: str | None = None
    link_dag_versions: bool = True  # link imported task instances to the target's DAG version


@dataclass(kw_only=True)
class _FromDatabase(_Merging):
    """What moving a source database's history into a target is told."""

    source: str
    archive: str | None = None  # keep the intermediate archive here (default: a temp folder)
    fernet_key: str | None = None  # the source's, as for ExportOptions
    airflow_home: str | None = None


@dataclass(kw_only=True)
class MigrateOptions(_FromDatabase):
    """``airshift migrate``: export, upgrade, import and verify in one go."""

    dag_ids: list[str] = field(default_factory=list)  # globs
    since: dt.datetime | None = None
    last_runs: int | None = None
    pause: bool = True  # pause the source's DAGs while exporting
    logs: tuple[str, str] | None = None  # also copy task logs: (source logs, target logs)


@dataclass(kw_only=True)
class CutoverOptions(_FromDatabase):
    """``airshift cutover``: bulk copy while live, pause, drain, delta, verify, unpause.

    ``unpause`` does not apply (the unpause phase decides); ``on_conflict`` is the bulk
    phase's (``newer`` by default: a cutover started again after a rollback brings the
    rows that changed meanwhile); ``dry_run`` plans without changing anything; ``archive``
    keeps the bulk and delta archives under that location (``bulk/``, ``delta/``).
    """

    on_conflict: OnConflict = OnConflict.NEWER

    state_file: str | None = None  # default: one per (source, target) in airshift's cache
    stop_after: CutoverPhase | None = None  # stop once this phase is done (resume later)
    drain_timeout: float = 600.0  # seconds to wait for executing tasks to end
    force: bool = False  # after the drain timeout, move executing tasks as they are
    allow_catchup: bool = False  # also unpause catchup DAGs that would create past runs
    rollback: bool = False  # pause the target's DAGs, give the source its prior states


@dataclass
class UpgradeOptions:
    """``airshift upgrade``: an archive rewritten at a newer Airflow's schema."""

    archive: str
    to: str  # the Airflow version whose schema the new archive has (3, 3.3, 3.3.2, latest)
    out: str  # location of the new archive
    archive_key: str | None = None
    convert_pickled: bool = False
    scratch_url: str | None = None  # default: SQLite in a temp folder
    airflow_venvs: list[str] = field(default_factory=list)
    jobs: int | None = None


@dataclass(kw_only=True)
class VerifyOptions(_IntoTarget):
    """``airshift verify``: every archived row present and equal in the target."""

    source: str  # the archive (or the source database) the target was filled from
    archive_key: str | None = None
    fernet_key: str | None = None  # the source database's, when ``source`` is one


@dataclass
class LogsCopyOptions:
    """``airshift logs copy``: the log of every task try the metadata knows."""

    source_logs: str  # folder, s3:// URL or cloudwatch://GROUP
    target_logs: str
    metadata: str  # the index of task tries: an archive, a database URL or SQLite file
    source_template: str = RECORDED  # RECORDED, a layout name or a log_filename_template
    target_template: str = RECORDED
    source_config: str | None = None  # the source's airflow.cfg (for runs that record none)
    target_airflow: int = 3  # major version of the target Airflow (its naming rules)
    states: list[str] = field(default_factory=list)
    since: dt.datetime | None = None
    days: int | None = None
    dag_ids: list[str] = field(default_factory=list)
    last_runs: int | None = None
    dry_run: bool = False
    jobs: int = 4
    overwrite: bool = False
