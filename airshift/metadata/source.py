"""An opened Airflow metadata database: engine, schema revision, reflected tables."""

from __future__ import annotations

import threading
from concurrent.futures import Executor
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from airshift import backends, db, versions
from airshift.backends import Backend
from airshift.metadata.schema import reflect


@dataclass
class AirflowDB:
    """A database airshift has checked: reachable, Airflow's, at a revision it knows."""

    url: str
    engine: Engine
    revision: versions.Revision
    _metadata: sa.MetaData | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @classmethod
    def open(cls, url: str) -> AirflowDB:
        engine = db.engine_for(url)
        rev = versions.describe(db.alembic_revision(engine))
        return cls(url, engine, rev)

    @property
    def backend(self) -> Backend:
        return backends.of(self.engine)

    @property
    def safe_url(self) -> str:
        return db.safe_url(self.url)

    @property
    def metadata(self) -> sa.MetaData:
        """Its tables, reflected on first use; under a lock, because a cutover reflects
        ahead, in a thread, what its delta then uses (``reflect_ahead``)."""
        with self._lock:
            if self._metadata is None:
                self._metadata = reflect(self.engine)
            return self._metadata

    def reflect_ahead(self, pool: Executor) -> None:
        """Reflect the tables in ``pool``'s thread, so that the first use finds them.

        Why: each reflection is a tenth of a second of Python, and a cutover's delta needs
        three (source, target, scratch) in its downtime; made while the export or the drain
        waits on the servers, they cost nothing there. What goes wrong here is not lost:
        the first use reflects again and fails where it would have anyway."""
        pool.submit(lambda: self.metadata)

    def refresh(self) -> None:
        """Reflect the tables again if the schema moved on since they were reflected (the
        database was migrated while a long import ran). Asking for the revision is one
        query; reflecting again cost a tenth of a second of a cutover's delta, each time."""
        now = db.alembic_revision(self.engine)
        if now != self.revision.revision:
            self.revision = versions.describe(now)
            with self._lock:
                self._metadata = None

    def table(self, name: str) -> sa.Table | None:
        return self.metadata.tables.get(name)

    @property
    def run_date_column(self) -> str:
        """The column that dates a run: 2.x execution_date, 3.x run_after."""
        cols = self.metadata.tables["dag_run"].c
        return "execution_date" if "execution_date" in cols else "run_after"

    def columns(self) -> dict[str, set[str]]:
        return {name: {c.name for c in t.columns} for name, t in self.metadata.tables.items()}

    def dispose(self) -> None:
        self.engine.dispose()
