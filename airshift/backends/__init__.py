"""The database backends airshift reads and writes: PostgreSQL, MySQL/MariaDB, SQLite.

Why a package: every difference between the three lives in its backend's class
(``base.Backend`` and its subclasses), chosen once per URL or connection here; the rest
of airshift asks the backend instead of testing dialect names.
"""

from __future__ import annotations

import sqlalchemy as sa

from airshift.backends.base import Backend
from airshift.backends.mysql import MySQL
from airshift.backends.postgresql import PostgreSQL
from airshift.backends.sqlite import SQLite

BACKENDS: tuple[Backend, ...] = (PostgreSQL(), MySQL(), SQLite())
_BY_NAME = {scheme: backend for backend in BACKENDS for scheme in backend.schemes}


def named(name: str) -> Backend | None:
    """The backend for a URL scheme or SQLAlchemy backend name, or None when unsupported."""
    return _BY_NAME.get(name)


def of(bind: sa.Connection | sa.Engine) -> Backend:
    """The backend of an open engine or connection."""
    return _BY_NAME[bind.dialect.name]


__all__ = ["BACKENDS", "Backend", "MySQL", "PostgreSQL", "SQLite", "named", "of"]
