"""Pause DAGs while their history is read or written, and always restore the prior state.

Why a state file: a process killed with SIGKILL cannot run its cleanup, so the prior
pause states are written to the cache folder before anything is paused, and the next
airshift run against the same database restores them before doing anything else.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from airshift.airflow_env import cache_dir


def _state_file(engine: Engine) -> Path:
    url = engine.url.render_as_string(hide_password=True)
    return cache_dir() / "pause-state" / (hashlib.sha256(url.encode()).hexdigest()[:16] + ".json")


def read_states(engine: Engine, dag_ids: list[str] | None) -> dict[str, bool]:
    dag = sa.Table("dag", sa.MetaData(), autoload_with=engine)
    q = sa.select(dag.c.dag_id, dag.c.is_paused)
    if dag_ids is not None:
        q = q.where(dag.c.dag_id.in_(dag_ids))
    with engine.connect() as conn:
        return {d: bool(p) for d, p in conn.execute(q)}


def set_states(engine: Engine, states: dict[str, bool]) -> None:
    dag = sa.Table("dag", sa.MetaData(), autoload_with=engine)
    with engine.begin() as conn:
        for paused in (True, False):
            ids = [d for d, p in states.items() if p is paused]
            if ids:
                conn.execute(sa.update(dag).where(dag.c.dag_id.in_(ids)).values(is_paused=paused))


def restore_leftover(engine: Engine) -> dict[str, bool]:
    """Restore pause states left behind by a killed airshift run; returns what was restored."""
    path = _state_file(engine)
    if not path.exists():
        return {}
    states = json.loads(path.read_text())
    set_states(engine, states)
    path.unlink()
    return states


class PauseGuard:
    """Pauses DAGs now; ``release`` sets their final states (by default the prior ones).

    The prior states are on disk before anything is paused, so a run killed before
    ``release`` is undone by the next one. (The CLI turns SIGTERM into an interrupt, so
    an ordinary kill still runs ``release``; see ``airshift.api``.)
    """

    def __init__(self, engine: Engine, dag_ids: list[str] | None) -> None:
        self.engine = engine
        restore_leftover(engine)
        self.prior = read_states(engine, dag_ids)
        self._path = _state_file(engine)
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._path.write_text(json.dumps(self.prior))
        set_states(engine, dict.fromkeys(self.prior, True))

    def release(self, final: dict[str, bool] | None = None) -> None:
        try:
            set_states(self.engine, self.prior if final is None else final)
        finally:
            self._path.unlink(missing_ok=True)


@contextmanager
def paused(engine: Engine, dag_ids: list[str] | None) -> Iterator[dict[str, bool]]:
    """Pause ``dag_ids`` (None: every DAG) for the duration; yields the prior states."""
    guard = PauseGuard(engine, dag_ids)
    try:
        yield guard.prior
    finally:
        guard.release()
