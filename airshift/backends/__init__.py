"""The database backends airshift reads and writes: PostgreSQL, MySQL/MariaDB, SQLite.

Why a package: every difference between the three lives in its backend's class
(``base.Backend`` and its subclasses), chosen once per URL or connection here; the rest
of airshift asks the backend instead of testing dialect names.
"""

from __future__ import annotations

import sqlalchemy as sa

from airshift.backends.base import Backend
from airshift.backends.mysql import MySQL
from airshift.backends.postgresql import PostgreSQL, Psycopg2, installed
from airshift.backends.sqlite import SQLite

# PostgreSQL through the driver this process has (psycopg 3, or psycopg2 under SQLAlchemy 1.4).
BACKENDS: tuple[Backend, ...] = (installed(), MySQL(), SQLite())
_BY_NAME = {scheme: backend for backend in BACKENDS for scheme in backend.schemes}
# An engine opened elsewhere (Airflow's own URL) keeps its driver: its backend is that one's.
_BY_DRIVER = {b.driver: b for b in (PostgreSQL(), Psycopg2(), *BACKENDS)}


def named(name: str) -> Backend | None:
    """The backend for a URL scheme or SQLAlchemy backend name, or None when unsupported."""
    return _BY_NAME.get(name)


def of(bind: sa.Connection | sa.Engine) -> Backend:
    """The backend of an open engine or connection (of its driver, where that matters)."""
    dialect = bind.dialect
    return _BY_DRIVER.get(f"{dialect.name}+{dialect.driver}") or _BY_NAME[dialect.name]


__all__ = ["BACKENDS", "Backend", "MySQL", "PostgreSQL", "Psycopg2", "SQLite", "named", "of"]
