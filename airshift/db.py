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

from airshift.errors import AirshiftError

_DRIVERS = {
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mysql+pymysql",
}


def parse_url(url: str) -> URL:
    """A SQLAlchemy URL with airshift's drivers; a bare file path means a SQLite database."""
    if "://" not in url:
        return make_url(f"sqlite:///{Path(url).expanduser().resolve()}")
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise AirshiftError(f"{url!r} is not a database URL: {exc}") from None
    name = parsed.get_backend_name()
    if name not in ("postgresql", "postgres", "mysql", "mariadb", "sqlite"):
        raise AirshiftError(
            f"Unsupported database {name!r} in {safe_url(url)}: airshift reads and writes "
            "PostgreSQL, MySQL/MariaDB and SQLite, the backends Airflow supports."
        )
    return parsed.set(drivername=_DRIVERS.get(name, "sqlite"))


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


def backend_of(url: str | URL) -> str:
    """'postgresql', 'mysql' or 'sqlite'."""
    parsed = parse_url(url) if isinstance(url, str) else url
    return parsed.get_backend_name()


def engine_for(url: str, must_exist: bool = True) -> Engine:
    """Open an engine and check it answers, turning driver errors into one clear paragraph."""
    parsed = parse_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = parsed.database
        if must_exist and (not path or not Path(path).is_file()):
            raise AirshiftError(f"No SQLite database at {path!r}.")
    # UTC sessions everywhere: Airflow's timestamps are UTC and naive ones must stay so.
    connect_args = (
        {"options": "-c TimeZone=UTC"} if parsed.get_backend_name() == "postgresql" else {}
    )
    try:
        engine = sa.create_engine(parsed, future=True, connect_args=connect_args)
    except (NoSuchModuleError, ArgumentError) as exc:
        raise AirshiftError(f"Cannot use {safe_url(parsed)}: {exc}") from None
    if parsed.get_backend_name() == "mysql":
        sa.event.listen(engine, "connect", _mysql_utc)
    elif parsed.get_backend_name() == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except DBAPIError as exc:
        engine.dispose()
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise AirshiftError(f"Cannot connect to {safe_url(parsed)}: {reason}") from None
    return engine


def _mysql_utc(dbapi_conn, _record) -> None:
    # Airflow keeps MySQL TIMESTAMPs in UTC by setting the session zone; so must we.
    with dbapi_conn.cursor() as cur:
        cur.execute("SET time_zone = '+00:00'")


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def alembic_revision(engine: Engine) -> str:
    """The database's Alembic revision, or an error saying it is not an Airflow database."""
    if not sa.inspect(engine).has_table("alembic_version"):
        raise AirshiftError(
            f"{safe_url(engine.url)} is not an Airflow metadata database: it has no "
            "alembic_version table. Point airshift at the database Airflow's "
            "[database] sql_alchemy_conn names."
        )
    with engine.connect() as conn:
        revs = [r[0] for r in conn.execute(sa.text("SELECT version_num FROM alembic_version"))]
    if len(revs) != 1:
        raise AirshiftError(
            f"{safe_url(engine.url)} has {len(revs)} rows in alembic_version ({', '.join(revs) or 'none'}); "
            "an Airflow database has exactly one. Finish or repair its migration first."
        )
    return revs[0]


def server_url(url: str | URL) -> URL:
    """The URL of the server's maintenance database, for CREATE/DROP DATABASE."""
    parsed = parse_url(url) if isinstance(url, str) else url
    return parsed.set(database="postgres" if parsed.get_backend_name() == "postgresql" else None)


def with_database(url: str | URL, name: str) -> str:
    """The same server and credentials, another database."""
    parsed = parse_url(url) if isinstance(url, str) else url
    return parsed.set(database=name).render_as_string(hide_password=False)


def _on_server(url: str | URL, sql: str) -> None:
    """Run one statement on the server's maintenance database, outside any transaction."""
    parsed = parse_url(url) if isinstance(url, str) else url
    engine = sa.create_engine(server_url(parsed), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(sql))
    finally:
        engine.dispose()


def create_database(url: str | URL, name: str, template: str | None = None) -> str:
    """CREATE DATABASE on the server of ``url`` (PostgreSQL may copy a template); returns its URL."""
    _check_identifier(name)
    parsed = parse_url(url) if isinstance(url, str) else url
    if parsed.get_backend_name() == "postgresql":
        tpl = f' TEMPLATE "{_check_identifier(template)}"' if template else ""
        sql = f'CREATE DATABASE "{name}"{tpl}'
    else:
        sql = f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
    try:
        _on_server(parsed, sql)
    except DBAPIError as exc:
        raise AirshiftError(
            f"Cannot create database {name!r} on {safe_url(parsed)}: {str(exc.orig).strip()}"
        ) from None
    return with_database(parsed, name)


def drop_database(url: str | URL, name: str) -> None:
    """DROP DATABASE IF EXISTS, ending other sessions on PostgreSQL first."""
    _check_identifier(name)
    parsed = parse_url(url) if isinstance(url, str) else url
    if parsed.get_backend_name() == "postgresql":
        _on_server(parsed, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        _on_server(parsed, f"DROP DATABASE IF EXISTS `{name}`")


def _check_identifier(name: str | None) -> str:
    if not name or not re.fullmatch(r"[A-Za-z0-9_]{1,63}", name):
        raise AirshiftError(f"{name!r} is not a safe database name (letters, digits, _).")
    return name
