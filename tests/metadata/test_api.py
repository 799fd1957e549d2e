"""The library API does what the command does, without the command.

Why: the CLI is one caller of ``airshift.api``; a script, a test or an agent inside
Airflow calls it directly, off the main thread, in a process whose settings it must
leave alone. ``api.migrate`` called that way must give the CLI's result.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from airshift import api
from tests import rows
from tests.metadata.test_import import _migrate

COUNTED = ("dag_run", "task_instance", "task_instance_history", "xcom", "log", "variable", "job")


def _as_json(data: dict) -> dict:
    """A report as the CLI prints it with --json, but for the seconds each phase took (two
    runs never take the same time): only which phases ran is compared."""
    report = json.loads(json.dumps(data, default=str, sort_keys=True))
    report["seconds"] = sorted(report["seconds"])
    return report


def test_api_migrate_off_the_main_thread_gives_the_cli_result(clone_db) -> None:
    src = clone_db("2.10.5", "sqlite")
    by_cli, by_api = clone_db("3.3.2", "sqlite", "target"), clone_db("3.3.2", "sqlite", "target")
    proc = _migrate(src, by_cli)
    assert proc.returncode == 0, proc.stderr[-3000:]
    opts = api.MigrateOptions(
        source=src.url,
        target=by_api.url,
        fernet_key=src.fixture.fernet_key,
        target_fernet_key=by_api.fixture.fernet_key,
    )
    terminate = signal.getsignal(signal.SIGTERM)
    with ThreadPoolExecutor(1) as pool:  # a signal handler installed here would fail
        report = pool.submit(api.migrate, opts).result()
    assert signal.getsignal(signal.SIGTERM) == terminate
    assert report.exit_code == 0
    assert _as_json(report.as_dict()) == _as_json(json.loads(proc.stdout))
    assert {t: rows.count(by_api.url, t) for t in COUNTED} == {
        t: rows.count(by_cli.url, t) for t in COUNTED
    }


def _fresh_python(code: str) -> subprocess.CompletedProcess:
    """``code`` in a new interpreter, without the ARROW_* settings of this one."""
    env_free = {k: v for k, v in os.environ.items() if not k.startswith("ARROW_")}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env_free
    )


@pytest.mark.parametrize(
    "ending, status, stderr",
    [
        ("sys.exit()", 0, None),
        ("sys.exit(3)", 3, None),
        ("sys.exit('refused')", 1, "refused"),
        ("raise KeyboardInterrupt", 130, "KeyboardInterrupt"),
    ],
)
def test_the_command_keeps_arrow_off_mimalloc_and_ends_unfinalized(ending, status, stderr) -> None:
    """The entry point sets Arrow's pool before pyarrow loads (Arrow's C++ code, Parquet and
    CSV, reads ARROW_DEFAULT_MEMORY_POOL once; mimalloc's freed pages stayed resident:
    60-75 MB more peak at medium, docs/benchmarks.md run 18), and ends the process without
    interpreter finalization, where Arrow's threads can abort a finished command
    (``airshift.program``): atexit functions run, objects are not finalized, and the exit
    status is the interpreter's. The command itself is replaced by a Parquet round trip."""
    probe = (
        "import atexit, io, sys, types\n"
        "def command():\n"
        "    import pyarrow as pa, pyarrow.parquet as pq\n"
        "    buf = io.BytesIO()\n"
        "    pq.write_table(pa.table({'x': list(range(100_000))}), buf)\n"
        "    pq.read_table(io.BytesIO(buf.getvalue()))\n"
        "    assert pa.mimalloc_memory_pool().max_memory() == 0, 'Parquet used mimalloc'\n"
        "    assert pa.system_memory_pool().max_memory() > 0\n"
        "    print('checked')\n"
        f"    {ending}\n"
        "sys.modules['airshift.cli'] = types.SimpleNamespace(main=command)\n"
        "class Finalized:\n"
        "    def __del__(self):\n"
        "        print('finalized')\n"
        "kept = Finalized()\n"
        "atexit.register(print, 'atexit ran')\n"
        "from airshift.__main__ import main\n"
        "main()\n"
    )
    proc = _fresh_python(probe)
    assert proc.returncode == status, proc.stderr
    assert proc.stdout == "checked\natexit ran\n", proc.stderr
    assert proc.stderr.splitlines()[-1:] == ([stderr] if stderr else []), proc.stderr


def test_importing_airshift_changes_nothing_in_the_process() -> None:
    """Allocator settings and signal handlers belong to the program (``airshift.__main__``)."""
    probe = (
        "import os, signal, pyarrow as pa\n"
        "before = pa.default_memory_pool().backend_name\n"
        "import airshift, airshift.api, airshift.cli\n"
        "assert pa.default_memory_pool().backend_name == before, before\n"
        "assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL\n"
        "assert 'ARROW_DEFAULT_MEMORY_POOL' not in os.environ\n"
    )
    proc = _fresh_python(probe)
    assert proc.returncode == 0, proc.stderr
