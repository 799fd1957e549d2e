"""``airshift logs``: task logs follow their history into the new environment.

``airshift.api.logs_copy`` is the command's whole behaviour; underneath it (and under
``airshift migrate --logs``):
``copy_logs(iter_tries(open_tables(url)), "src", "dst", CopyOptions(...)) -> CopyReport``.
"""

from airshift.logs.copy import CopyOptions, CopyReport, FileResult, Status, copy_logs
from airshift.logs.index import IndexFilter, TaskTry, airflow_major, iter_tries
from airshift.logs.naming import LAYOUTS, Naming
from airshift.logs.stores import LogStore, open_store
from airshift.logs.tables import MetadataTables, open_tables

__all__ = [
    "LAYOUTS",
    "CopyOptions",
    "CopyReport",
    "FileResult",
    "IndexFilter",
    "LogStore",
    "MetadataTables",
    "Naming",
    "Status",
    "TaskTry",
    "airflow_major",
    "copy_logs",
    "iter_tries",
    "open_store",
    "open_tables",
]
