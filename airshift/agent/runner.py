"""The job process: one export or import, its progress and outcome in the job's record.

Why a process: see ``jobs``. It reads its inputs from standard input (the job request with
its key, the database URL and the Fernet key: secrets never appear on a command line or
in the environment of other processes), writes a heartbeat with its progress every few
seconds, and always ends by writing the final state: the report, or the error as the
user will read it with its exit code. SIGTERM stops it the way Ctrl-C stops the CLI: the
import's transaction rolls back and pause states are restored.
"""

from __future__ import annotations

import collections
import contextlib
import json
import signal
import sys
import threading
from typing import Any

import sqlalchemy as sa

from airshift import program
from airshift.agent import library
from airshift.agent.jobs import HEARTBEAT, LOG_LINES, JobStore
from airshift.agent.protocol import JobRequest
from airshift.errors import AirshiftError, ExitCode


class Recorder:
    """The library's ``progress.Progress`` and ``Log`` for a job: keeps what it is told
    for the job's record. Thread-safe: the export reads several tables at once."""

    watched = True  # the job's record shows totals

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tasks: dict[str, dict[str, Any]] = {}
        self._lines: collections.deque[str] = collections.deque(maxlen=LOG_LINES)
        self._logged = 0  # lines ever logged: a reader knows which of the kept ones are new

    def update(
        self, name: str, advance: int = 0, total: int | None = None, label: str = ""
    ) -> None:
        with self._lock:
            task = self._tasks.setdefault(
                name, {"description": name, "total": None, "completed": 0}
            )
            task["completed"] += advance
            if total is not None:
                task["total"] = total

    def log(self, message: str) -> None:
        with self._lock:
            self._lines.append(str(message))
            self._logged += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "progress": [dict(t) for t in self._tasks.values()],
                "log": list(self._lines),
                "log_count": self._logged,
            }


class _Heartbeat(threading.Thread):
    def __init__(self, store: JobStore, job_id: str, recorder: Recorder) -> None:
        super().__init__(name="airshift-heartbeat", daemon=True)
        self.store, self.job_id, self.recorder = store, job_id, recorder
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(HEARTBEAT):
            # A missed beat is retried; LOST_AFTER spans many of them.
            with contextlib.suppress(sa.exc.DBAPIError):
                self.store.beat(self.job_id, self.recorder.snapshot())


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run(spec: dict[str, Any]) -> str:
    """Run the job described by ``spec``; returns its final state."""
    job = JobRequest.from_body(spec["job"])
    store = JobStore(sa.create_engine(spec["db_url"]))
    recorder = Recorder()
    beat = _Heartbeat(store, job.id, recorder)
    beat.start()
    state, outcome = "failed", {}
    try:
        work = library.export if job.kind == "export" else library.import_
        result = work(spec["db_url"], spec.get("fernet_key"), job, recorder, recorder.log)
        state, outcome = "succeeded", {"result": result}
    except AirshiftError as exc:
        outcome = {"error": {"message": exc.message, "exit_code": exc.exit_code}}
    except KeyboardInterrupt:
        outcome = {
            "error": {
                "message": "The job was stopped (SIGTERM) before it finished; nothing it was "
                "writing was kept (an import's transaction rolled back).",
                "exit_code": ExitCode.INTERRUPTED,
            }
        }
    except Exception as exc:  # reported to the user instead of vanishing with the process
        outcome = {"error": {"message": f"Unexpected {type(exc).__name__}: {exc}", "exit_code": 1}}
    finally:
        beat.stopped.set()
        beat.join()
        store.finish(job.id, state, recorder.snapshot() | outcome)
        store.engine.dispose()
    return state


def main() -> None:
    signal.signal(signal.SIGTERM, _interrupted)
    spec = json.loads(sys.stdin.read())
    sys.exit(0 if run(spec) == "succeeded" else 1)


if __name__ == "__main__":
    program.run(main)
