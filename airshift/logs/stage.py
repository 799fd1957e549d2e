"""The log stage of ``airshift migrate``: copy every archived try's log, names as recorded.

Why a separate entry point: ``migrate`` has an archive and a target version, not the
many knobs of ``airshift logs copy``; this applies that command's defaults.
"""

from __future__ import annotations

from airshift.errors import AirshiftError
from airshift.logs.copy import CopyOptions, CopyReport, copy_logs
from airshift.logs.index import IndexFilter, airflow_major, iter_tries
from airshift.logs.naming import LAYOUTS, Naming
from airshift.logs.tables import open_tables


def parse_spec(spec: str) -> tuple[str, str]:
    """``SRC=DST`` (the --logs option) as its two locations."""
    src, sep, dst = spec.partition("=")
    if not sep or not src or not dst:
        raise AirshiftError(f"--logs takes SOURCE_LOGS=TARGET_LOGS, got {spec!r}.")
    return src, dst


def copy_archived_logs(
    metadata: str, source_logs: str, target_logs: str, target_major: int
) -> CopyReport:
    """Copy the log of every try the metadata (archive or database) knows."""
    tables = open_tables(metadata)
    tries = list(iter_tries(tables, IndexFilter.build((), (), None, None, None)))
    fallback = LAYOUTS["airflow-1.10"]
    options = CopyOptions(
        source_naming=Naming(airflow_major=airflow_major(tables), template=None, fallback=fallback),
        target_naming=Naming(airflow_major=target_major, template=None, fallback=fallback),
    )
    return copy_logs(tries, source_logs, target_logs, options)
