"""Run the demo DAG once through the executor, with run_id = manual__2024-01-01T00:00:00+00:00.

Why not ``airflow dags test``: Airflow 3 names that run after the wall clock; passing
``run_after`` gives it the same run_id as the Airflow 2 run, so the two metadata stores
hold the same task tries (run in the Airflow 3 venv).
"""

import runpy
import sys
from datetime import datetime, timezone

when = datetime(2024, 1, 1, tzinfo=timezone.utc)
runpy.run_path(sys.argv[1])["dag"].test(logical_date=when, run_after=when, use_executor=True)
