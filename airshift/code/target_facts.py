"""Asking the target Airflow itself: probe scripts run in its virtualenv, answering in JSON.

Why: config renames and removals, known options, minimum provider versions and whether a DAG
imports differ per release; running small scripts (``target_probe.py``, ``dagbag_probe.py``)
with the target's own interpreter keeps airshift right for releases it has never seen. Each
probe prints ``@@AIRSHIFT@@`` and one JSON document last, so log lines before it do no harm.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from airshift import airflow_env
from airshift.errors import AirshiftError

HERE = Path(__file__).parent
MARKER = "@@AIRSHIFT@@"


def run_probe(
    env: airflow_env.AirflowEnv,
    script: str,
    args: Sequence[str] = (),
    extra_env: Mapping[str, str] | None = None,
    timeout: float = 1800,
    db_url: str | None = None,
) -> dict:
    """Run ``script`` (a file beside this module) in ``env`` and return its JSON answer."""
    with tempfile.TemporaryDirectory(prefix="airshift-probe-") as home:
        proc = env.run(
            ["python", str(HERE / script), *args],
            home=Path(home),
            db_url=db_url,
            extra_env=extra_env,
            check=False,
            timeout=timeout,
        )
    if MARKER not in proc.stdout:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-10:])
        raise AirshiftError(f"Airflow {env.version} could not run {script}:\n{tail}")
    return json.loads(proc.stdout.rsplit(MARKER, 1)[1])


def load_target_facts(env: airflow_env.AirflowEnv) -> dict:
    """``{"changes", "deprecated", "known", "min_providers"}`` from the target's own code."""
    return run_probe(env, "target_probe.py", timeout=300)
