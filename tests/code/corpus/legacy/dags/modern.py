"""A DAG that is already written for Airflow 3: the control case."""

import pendulum

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import dag


@dag(schedule="@daily", start_date=pendulum.datetime(2024, 1, 1, tz="UTC"), catchup=False)
def modern():
    BashOperator(task_id="hello", bash_command="echo {{ logical_date }}")


modern()
