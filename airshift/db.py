"""Connections to Airflow metadata databases (PostgreSQL, MySQL/MariaDB, SQLite).

Why one module: every stage (inspect, export, scratch upgrade, import, verify) must open
databases the same way: the same drivers, UTC sessions on MySQL (Airflow stores naive UTC
there and sets the session time zone itself), and the same clear errors for an
unreachable server, bad credentials or a database that is not Airflow's.
"""

from __future__ import annotations

import re
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from airshift import backends
from airshift.backends import Backend
from airshift.errors import AirshiftError, NotAirflowDatabase, UnreachableDatabase


def parse_url(url: str) -> URL:
    """A SQLAlchemy URL with airshift's drivers; a bare file path means a SQLite database."""
    if "://" not in url:
        return make_url(f"sqlite:///{Path(url).expanduser().resolve()}")
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise AirshiftError(f"{url!r} is not a database URL: {exc}") from None
    return parsed.set(drivername=backend_of(parsed).driver)


def safe_url(url: str | URL) -> str:
    """The URL with its password masked, for messages and reports."""
    try:
        return (
            parse_url(url).render_as_string(hide_password=True)
            if isinstance(url, str)
            else url.render_as_string(hide_password=True)
        )
    except AirshiftError:
        return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", str(url))


def _parsed(url: str | URL) -> URL:
    return parse_url(url) if isinstance(url, str) else url


def backend_of(url: str | URL) -> Backend:
    """The backend a URL names, or a clear error for one airshift does not support."""
    parsed = _parsed(url)
    backend = backends.named(parsed.get_backend_name())
    if backend is None:
        raise AirshiftError(
            f"Unsupported database {parsed.get_backend_name()!r} in "
            f"{parsed.render_as_string(hide_password=True)}: airshift reads and writes "
            "PostgreSQL, MySQL/MariaDB and SQLite, the backends Airflow supports."
        )
    return backend


def engine_for(url: str, must_exist: bool = True) -> Engine:
    """Open an engine and check it answers, turning driver errors into one clear paragraph."""
    parsed = parse_url(url)
    backend = backend_of(parsed)
    if must_exist:
        backend.require_database(parsed)
    try:
        engine = sa.create_engine(parsed, future=True, connect_args=backend.connect_args(parsed))
    except (NoSuchModuleError, ArgumentError) as exc:
        raise UnreachableDatabase(f"Cannot use {safe_url(parsed)}: {exc}") from None
    sa.event.listen(engine, "connect", backend.on_connect)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except DBAPIError as exc:
        engine.dispose()
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise UnreachableDatabase(f"Cannot connect to {safe_url(parsed)}: {reason}") from None
    return engine


def alembic_revision(engine: Engine) -> str:
    """The database's Alembic revision, or an error saying it is not an Airflow database."""
    try:
        has_revision = sa.inspect(engine).has_table("alembic_version")
    except DBAPIError as exc:  # SQLite opens any file; reading one that is not a database fails
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise NotAirflowDatabase(
            f"{safe_url(engine.url)} cannot be read as a database ({reason}). Point airshift "
            "at the database Airflow's [database] sql_alchemy_conn names."
        ) from None
    if not has_revision:
        raise NotAirflowDatabase(
            f"{safe_url(engine.url)} is not an Airflow metadata database: it has no "
            "alembic_version table. Point airshift at the database Airflow's "
            "[database] sql_alchemy_conn names."
        )
    with engine.connect() as conn:
        revs = [r[0] for r in conn.execute(sa.text("SELECT version_num FROM alembic_version"))]
    if len(revs) != 1:
        raise NotAirflowDatabase(
            f"{safe_url(engine.url)} has {len(revs)} rows in alembic_version ({', '.join(revs) or 'none'}); "
            "an Airflow database has exactly one. Finish or repair its migration first."
        )
    return revs[0]


def create_database(url: str | URL, name: str, template: str | None = None) -> str:
    """CREATE DATABASE on the server of ``url`` (PostgreSQL may copy a template); returns its URL."""
    parsed = _parsed(url)
    created = backend_of(parsed).create_database(parsed, name, template)
    return created.render_as_string(hide_password=False)


def drop_database(url: str | URL, name: str) -> None:
    """DROP DATABASE IF EXISTS, ending other sessions on PostgreSQL first."""
    parsed = _parsed(url)
    backend_of(parsed).drop_database(parsed, name)
