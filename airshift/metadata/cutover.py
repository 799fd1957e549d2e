"""A cutover's own steps: its state file, pausing and draining the source, the unpause check.

Why a state file: a cutover runs for as long as its bulk copy takes and then changes both
environments (the source's DAGs paused, the target's unpaused). Each finished phase, the
moment the bulk copy began and the source's exact pause states before the pause are
written there first, so a run that stops (a drain timeout, a kill, ``--stop-after``) is
resumed where it stopped, and ``--rollback`` restores exactly what was there before.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import tempfile
import time
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from airshift import airflow_env
from airshift.airflow_env import cache_dir
from airshift.choices import CutoverPhase
from airshift.metadata import pause
from airshift.metadata.importer import _release_for
from airshift.metadata.source import AirflowDB
from airshift.progress import NULL_PROGRESS, Progress

# How far before the bulk copy's start the delta looks for changes: the rows' dates come
# from the source's Airflow processes, whose clocks may differ from this machine's. A row
# seen twice is found identical in the target and left alone.
CLOCK_MARGIN = dt.timedelta(minutes=5)
# Task states that end on their own while the DAG is paused (a worker runs them): drained.
EXECUTING = ("running", "queued", "restarting")
# A task in one of these states is done: a running run whose tasks all are is about to be
# marked finished by the source's scheduler (a moment after its last task ends).
FINISHED = ("success", "failed", "skipped", "upstream_failed", "removed")
# Waiting for the scheduler, which skips paused DAGs: moved as they are, the target's
# scheduler carries them on once their DAG is unpaused there.
WAITING = ("scheduled", "up_for_retry", "up_for_reschedule", "deferred")

# Run by the target's own Airflow (3.x): each DAG's next run computed by Airflow's own code
# from its newest migrated automated run, as its DAG processor does on a parse; prints
# {dag_id: [next_dagrun_create_after before, after, next logical date]}.
NEXT_RUN_SCRIPT = """
import inspect, json, sys
from airflow.dag_processing.collection import _get_latest_runs_stmt
from airflow.models.dag import DagModel
from airflow.models.serialized_dag import SerializedDagModel
from airflow.utils.session import create_session

def text(value):
    return value.isoformat() if value is not None else None

out = {}
with create_session() as session:
    for dag_id in json.loads(sys.argv[1]):
        model = session.get(DagModel, dag_id)
        serialized = SerializedDagModel.get(dag_id, session=session)
        if model is None or serialized is None:
            continue
        latest = session.scalar(_get_latest_runs_stmt(dag_id=dag_id))
        before = text(model.next_dagrun_create_after)
        params = inspect.signature(DagModel.calculate_dagrun_date_fields).parameters
        if "reference_run" in params:
            model.calculate_dagrun_date_fields(serialized.dag, reference_run=latest)
        else:  # 3.0-3.2: the newest automated run's data interval
            from airflow.models.dag import get_run_data_interval
            dag = serialized.dag
            model.calculate_dagrun_date_fields(dag, get_run_data_interval(dag.timetable, latest))
        out[dag_id] = [before, text(model.next_dagrun_create_after), text(model.next_dagrun)]
print(json.dumps(out))
"""


@dataclass
class CutoverState:
    """What a cutover has done so far (its state file, and its report)."""

    source: str
    target: str
    bulk_started: str | None = None  # ISO time, UTC: the delta takes changes since then
    paused_at: str | None = None  # when the source's DAGs were paused (the cutover moment)
    prior_pause: dict[str, bool] | None = None  # the source's pause states before that
    phases: list[dict[str, Any]] = field(default_factory=list)  # timeline, one per phase
    results: dict[str, dict] = field(default_factory=dict)  # phase -> what it reported
    moved_unfinished: list[str] = field(default_factory=list)  # tasks moved as they were
    unpaused: list[str] = field(default_factory=list)
    held: dict[str, str] = field(default_factory=dict)  # DAG id -> why it stays paused
    # DAG id -> [its next run's time as the target had it, as recomputed, next logical date]
    next_runs: dict[str, list[str | None]] = field(default_factory=dict)
    rolled_back: bool = False

    def done(self, phase: CutoverPhase) -> bool:
        return any(p["phase"] == phase.value for p in self.phases)

    def record(self, phase: CutoverPhase, started: float, summary: str) -> None:
        self.phases.append(
            {
                "phase": phase.value,
                "started": dt.datetime.fromtimestamp(started, dt.timezone.utc).isoformat(),
                "seconds": round(time.time() - started, 3),
                "summary": summary,
            }
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def save(self, path: Path) -> None:
        """Written whole, then renamed: a kill leaves the previous state, never half of one."""
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_name(path.name + ".part")
        part.write_text(json.dumps(self.as_dict(), indent=1, default=str))
        part.replace(path)

    @classmethod
    def load(cls, path: Path, source: str, target: str) -> CutoverState:
        if not path.exists():
            return cls(source, target)
        return cls(**json.loads(path.read_text()))


def default_state_path(source: AirflowDB, target: AirflowDB) -> Path:
    """One state file per (source, target) pair, in airshift's cache folder."""
    pair = f"{source.safe_url}\n{target.safe_url}".encode()
    return cache_dir() / "cutover" / (hashlib.sha256(pair).hexdigest()[:16] + ".json")


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def pause_source(source: AirflowDB, state: CutoverState, state_path: Path) -> int:
    """Pause every DAG of the source, its prior states on disk first; returns how many
    were active."""
    if state.prior_pause is None:
        state.prior_pause = pause.read_states(source.engine, None)
        state.paused_at = now().isoformat()
        state.save(state_path)
    pause.set_states(source.engine, dict.fromkeys(state.prior_pause, True))
    return sum(not p for p in state.prior_pause.values())


def unfinished_tasks(source: AirflowDB, states: tuple[str, ...]) -> list[str]:
    ti = source.metadata.tables["task_instance"]
    q = sa.select(ti.c.dag_id, ti.c.task_id, ti.c.run_id, ti.c.map_index, ti.c.state).where(
        ti.c.state.in_(states)
    )
    with source.engine.connect() as conn:
        return [
            f"{d}.{t} {r}" + (f"[{m}]" if m is not None and m >= 0 else "") + f" ({s})"
            for d, t, r, m, s in conn.execute(q.order_by(ti.c.dag_id, ti.c.run_id, ti.c.task_id))
        ]


def finishing_runs(source: AirflowDB) -> list[str]:
    """Runs still running whose task instances have all finished: the source's scheduler
    marks them finished on its next loop (with no scheduler they stay as they are)."""
    md = source.metadata
    run, ti = md.tables["dag_run"], md.tables["task_instance"]
    of_run = [ti.c.dag_id == run.c.dag_id, ti.c.run_id == run.c.run_id]
    q = sa.select(run.c.dag_id, run.c.run_id).where(
        run.c.state == "running",
        sa.exists().where(*of_run),
        ~sa.exists().where(*of_run, sa.or_(ti.c.state.is_(None), ti.c.state.not_in(FINISHED))),
    )
    with source.engine.connect() as conn:
        return [f"{d} {r} (run finishing)" for d, r in conn.execute(q)]


def drain(
    source: AirflowDB, timeout: float, progress: Progress = NULL_PROGRESS, poll: float = 0.5
) -> list[str]:
    """Wait until no task of the source is executing and no run is about to be marked
    finished; returns what still is when ``timeout`` seconds have passed (empty: drained).

    Asked every ``poll`` seconds: two indexed queries, while each second between a task's
    end and the drain seeing it is downtime (every 2 s, a 3 s task drained in 4)."""
    deadline = time.monotonic() + timeout
    while True:
        running = unfinished_tasks(source, EXECUTING) + finishing_runs(source)
        progress.update("drain", label=f"{len(running)} tasks executing or runs finishing")
        if not running or time.monotonic() >= deadline:
            return running
        time.sleep(poll)


def _aware(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def _catchup(db: AirflowDB, dag_id: str) -> bool | None:
    """The DAG's ``catchup`` as that environment last parsed it (None: never parsed
    there). Absent from the serialized DAG means the release's default: True on 2.x,
    False on 3.x (``scheduler.catchup_by_default``)."""
    sd = db.metadata.tables.get("serialized_dag")
    if sd is None:
        return None
    when = next(c for c in ("created_at", "last_updated") if c in sd.c)
    cols = [sd.c.data] + ([sd.c.data_compressed] if "data_compressed" in sd.c else [])
    q = sa.select(*cols).where(sd.c.dag_id == dag_id).order_by(sd.c[when].desc()).limit(1)
    with db.engine.connect() as conn:
        row = conn.execute(q).first()
    if row is None:
        return None
    data = row[0] if row[0] is not None else json.loads(zlib.decompress(row[1]))
    if isinstance(data, str):
        data = json.loads(data)
    return bool(data.get("dag", data).get("catchup", db.revision.major < 3))


def _next_run(target: AirflowDB, dag_id: str) -> tuple[dt.datetime | None, dt.datetime | None]:
    """(the start of the next interval the target's scheduler would create a run for,
    the newest migrated scheduled run's logical date): after the newest scheduled run,
    else the DAG's own next run date."""
    md = target.metadata
    run, dag = md.tables["dag_run"], md.tables["dag"]
    date = run.c["logical_date" if "logical_date" in run.c else "execution_date"]
    q = (
        sa.select(run.c.data_interval_end, date)
        .where(run.c.dag_id == dag_id, run.c.run_type == "scheduled")
        .order_by(date.desc())
        .limit(1)
    )
    with target.engine.connect() as conn:
        last = conn.execute(q).first()
        if last is not None and last[0] is not None:
            return _aware(last[0]), _aware(last[1])
        nxt = conn.execute(sa.select(dag.c.next_dagrun).where(dag.c.dag_id == dag_id)).scalar()
    return _aware(nxt), None


def schedule_from_migrated(target: AirflowDB, dag_ids: list[str]) -> dict[str, list[str | None]]:
    """Have the target's own Airflow recompute each DAG's next run from its migrated runs.

    Why: the target's DAG processor computed the ``dag`` row's next run when it parsed the
    DAG, before the migrated runs were there, and the scheduler acts on that row the moment
    the DAG is unpaused. For a 2.x ``@daily`` DAG that row says "today 00:00" under 3.x's
    cron timetable, whose run is due at the very tick the source already ran as the
    interval of the day before: the day would run twice. Computed from the newest migrated
    automated run, as Airflow's DAG processor does on its next parse, the next run is the
    tick after it. 2.x targets need none of this: their scheduler skips a logical date
    that already has a run. Returns {dag_id: [before, after, next logical date]}."""
    if target.revision.major < 3 or not dag_ids:
        return {}
    env = airflow_env.ensure(_release_for(target.revision.revision))
    with tempfile.TemporaryDirectory(prefix="airshift-next-run-") as home:
        script = Path(home) / "next_run.py"
        script.write_text(NEXT_RUN_SCRIPT)
        out = env.run(["python", str(script), json.dumps(dag_ids)], Path(home), target.url)
    return json.loads(out.stdout.strip().splitlines()[-1])


def unpause(
    source: AirflowDB,
    target: AirflowDB,
    state: CutoverState,
    allow_catchup: bool,
) -> tuple[list[str], dict[str, str]]:
    """Unpause on the target exactly the DAGs that were active on the source, each with its
    next run recomputed from the migrated runs (``schedule_from_migrated``), except those
    whose scheduler would create runs dated before the cutover (catchup on, the next
    interval before the moment the source was paused), which are held paused with the
    reason unless ``allow_catchup``. Returns (unpaused, held)."""
    assert state.prior_pause is not None and state.paused_at is not None
    cutover_at = dt.datetime.fromisoformat(state.paused_at)
    active = sorted(d for d, paused in state.prior_pause.items() if not paused)
    in_target = pause.read_states(target.engine, active)
    state.next_runs = schedule_from_migrated(target, sorted(in_target))
    held: dict[str, str] = {}
    for dag_id in active:
        if dag_id not in in_target:
            held[dag_id] = "the target has no such DAG (not deployed or not parsed yet)"
            continue
        catchup = _catchup(target, dag_id)
        if catchup is None:
            catchup = _catchup(source, dag_id)
        if not catchup or allow_catchup:
            continue
        nxt, last = _next_run(target, dag_id)
        if nxt is not None and nxt < cutover_at:
            held[dag_id] = (
                f"catchup=True: the target's scheduler would create runs from {nxt.isoformat()}"
                f" (newest migrated scheduled run: {last.isoformat() if last else 'none'}) up to"
                " now; unpause it yourself, or use --allow-catchup"
            )
    unpaused = [d for d in active if d not in held]
    pause.set_states(target.engine, dict.fromkeys(unpaused, False))
    return unpaused, held


def rollback(source: AirflowDB, target: AirflowDB, state: CutoverState) -> None:
    """Pause the source's DAGs on the target and give the source back its exact prior
    pause states."""
    assert state.prior_pause is not None
    on_target = pause.read_states(target.engine, list(state.prior_pause))
    pause.set_states(target.engine, dict.fromkeys(on_target, True))
    pause.set_states(source.engine, state.prior_pause)
