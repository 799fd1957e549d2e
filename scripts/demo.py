"""The README's first command: build real environments, migrate, show the target's view.

Why a script and not a fake: the demo makes a real Airflow 2.10.5 SQLite database with real
history (the same recipe as the tests), a real Airflow 3.3.2 target that has parsed the same
DAGs, runs ``airshift migrate`` between them, and asks the target's own Airflow CLI.
Everything lands in ./demo (git-ignored).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.realairflow import build

OUT = Path("demo")


def main() -> None:
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir()
    print(
        "1/4 real Airflow 2.10.5 with history on SQLite (built once, then cached) ...", flush=True
    )
    src_fx = build.get_fixture("2.10.5", "sqlite")
    tgt_fx = build.get_fixture("3.3.2", "sqlite", "target")
    shutil.copyfile(src_fx.cached, OUT / "source.db")
    print("2/4 real Airflow 3.3.2 target that has parsed the same DAGs ...", flush=True)
    shutil.copyfile(tgt_fx.cached, OUT / "target.db")
    print(
        "3/4 airshift migrate source.db -> target.db (archive kept in demo/archive) ...", flush=True
    )
    airshift = [sys.executable, "-m", "airshift"]
    subprocess.run(
        [*airshift, "inspect", str(OUT / "source.db")],
        check=True,
    )
    subprocess.run(
        [
            *airshift,
            "migrate",
            str(OUT / "source.db"),
            str(OUT / "target.db"),
            "--archive",
            str(OUT / "archive"),
            "--fernet-key",
            src_fx.fernet_key,
            "--target-fernet-key",
            tgt_fx.fernet_key,
            "--report",
            str(OUT / "report.json"),
        ],
        check=True,
    )
    print("4/4 what the target's own Airflow 3.3.2 CLI shows:", flush=True)
    env = build.airflow_env.ensure("3.3.2")
    for dag_id in ("lab_retry_fail", "lab_xcom_taskflow"):
        out = env.run(
            ["dags", "list-runs", dag_id],
            home=OUT / "home",
            db_url=f"sqlite:///{(OUT / 'target.db').resolve()}",
            extra_env={"AIRFLOW__CORE__FERNET_KEY": tgt_fx.fernet_key},
        )
        print(out.stdout)
    print(f"report: {OUT / 'report.json'}")


if __name__ == "__main__":
    main()
