"""A process that holds a scratch database (or schema) for a target, then lives on or is
SIGKILLed inside it: what a running or a killed import leaves for the next run to find."""

from __future__ import annotations

import subprocess
import sys

HOLDER = """
import os, signal, sys, time
from airshift.metadata import scratch
with scratch.scratch_database(sys.argv[1], in_target=sys.argv[3] == "schema") as url:
    print(url, flush=True)
    if sys.argv[2] == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(600)
"""


def hold(target: str, how: str, in_target: bool = False) -> tuple[subprocess.Popen, str]:
    """The holding process and its scratch's URL; ``how`` "kill": SIGKILLed (and reaped)
    once inside, else alive until the caller ends it. ``in_target``: a schema of the
    target's own database instead of a database of its own."""
    where = "schema" if in_target else "database"
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, target, how, where], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout
    url = proc.stdout.readline().strip()
    assert url, f"the holder made no scratch {where}"
    if how == "kill":
        proc.wait(30)
    return proc, url
