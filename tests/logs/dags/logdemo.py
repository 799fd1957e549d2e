"""A DAG whose tries cover what log naming must handle: a plain task, a retried task
(two tries, the first failed), mapped tasks and a task that fails for good."""

import os
from datetime import datetime, timedelta

try:
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2.x
    from airflow import DAG
    from airflow.decorators import task

# A schedule lets Airflow 2.8 backfill it (its `dags test` loops forever on a retry).
schedule = os.environ.get("LOGDEMO_SCHEDULE") or None

with DAG("logdemo", start_date=datetime(2024, 1, 1), schedule=schedule, catchup=False) as dag:

    @task
    def ok():
        print("LOGDEMO ok says hello")

    @task(retries=1, retry_delay=timedelta(seconds=0))
    def flaky(**context):
        try_number = context["ti"].try_number
        print(f"LOGDEMO flaky try {try_number}")
        if try_number < 2:
            raise RuntimeError("LOGDEMO flaky fails its first try")

    @task
    def mapped(x):
        print(f"LOGDEMO mapped {x}")

    ok() >> flaky() >> mapped.expand(x=[1, 2])
