"""An opened Airflow metadata database: engine, schema revision, reflected tables."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

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

    @cached_property
    def metadata(self) -> sa.MetaData:
        return reflect(self.engine)

    def refresh(self) -> None:
        self.__dict__.pop("metadata", None)

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
