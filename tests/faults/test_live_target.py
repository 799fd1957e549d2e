"""Import into a target whose API server, scheduler and DAG processor are running, while a
client reads through the API and triggers new runs the whole time: the import neither
loses the target's own rows nor deadlocks with them, and with ``--online`` the API keeps
answering; its latencies before and during the import are recorded."""

from __future__ import annotations

import json
import statistics
import subprocess
import threading
import time

import pytest
import requests

from tests import rows
from tests.faults.lab import CLI, record
from tests.metadata.test_import import _export, _import_args
from tests.metadata.test_target_runs_on import running_target


class Client(threading.Thread):
    """Reads a DAG's runs twice a second and triggers a run every third read; keeps every
    read's latency (seconds) under the phase it fell in, and the runs the API accepted."""

    def __init__(self, api: str) -> None:
        super().__init__(daemon=True)
        self.api, self.phase, self.stop = api, "before", threading.Event()
        self.latency: dict[str, list[float]] = {"before": [], "during": [], "after": []}
        self.errors: list[str] = []
        self.triggered: list[str] = []

    def run(self) -> None:
        n = 0
        while not self.stop.is_set():
            n += 1
            began = time.monotonic()
            try:
                got = requests.get(
                    f"{self.api}/dags/lab_retry_fail/dagRuns", params={"limit": 20}, timeout=60
                )
                if got.ok:
                    self.latency[self.phase].append(time.monotonic() - began)
                else:
                    self.errors.append(f"GET {got.status_code}")
                if n % 3 == 0:
                    run_id = f"live__{n}"
                    made = requests.post(
                        f"{self.api}/dags/lab_pool_sensor/dagRuns",
                        json={"dag_run_id": run_id, "logical_date": None},
                        timeout=60,
                    )
                    if made.ok:
                        self.triggered.append(run_id)
                    else:
                        self.errors.append(f"POST {made.status_code}: {made.text[:200]}")
            except requests.RequestException as exc:
                self.errors.append(f"{type(exc).__name__}")
            time.sleep(0.5)


def _figures(samples: list[float]) -> list[object]:
    if not samples:
        return [0, "-", "-", "-"]
    ms = sorted(s * 1000 for s in samples)
    p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
    return [len(ms), f"{statistics.median(ms):.0f}", f"{p95:.0f}", f"{ms[-1]:.0f}"]


@pytest.mark.full
def test_online_import_into_a_running_target(clone_db, tmp_path) -> None:
    src = clone_db("2.10.5", "postgresql")
    tgt = clone_db("3.3.2", "postgresql", "target")
    key = _export(src, str(tmp_path / "a"))
    args = [*_import_args(tmp_path / "a", tgt, key), "--online", "--json"]
    with running_target("3.3.2", tgt, tmp_path) as api:
        client = Client(api)
        client.start()
        time.sleep(20)
        client.phase = "during"
        began = time.monotonic()
        proc = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=1800)
        took = time.monotonic() - began
        client.phase = "after"
        time.sleep(10)
        client.stop.set()
        client.join(90)
    assert proc.returncode == 0, proc.stderr[-3000:]
    merged = json.loads(proc.stdout)["merge"]["tables"]
    assert merged["task_instance"]["inserted"] == rows.count(src.url, "task_instance")
    assert not any(t.get("indexes_rebuilt") for t in merged.values())  # --online locks nothing
    assert client.triggered and not client.errors, client.errors[:5]
    own = {r[0] for r in rows.source_rows(tgt.url, "dag_run", {"run_id": ""})}
    assert set(client.triggered) <= own  # none of the target's own runs lost
    assert client.latency["during"], "the API answered nothing during the import"
    table = [["phase", "reads", "median ms", "p95 ms", "max ms"]]
    table += [[phase, *_figures(samples)] for phase, samples in client.latency.items()]
    table.append(
        [
            f"import --online took {took:.0f} s; {len(client.triggered)} runs triggered "
            "through the API, all in the target afterwards; 0 errors",
            "",
            "",
            "",
            "",
        ]
    )
    record("load", table=table)
