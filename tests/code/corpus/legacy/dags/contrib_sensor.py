"""Airflow 1.10 style contrib imports."""

import datetime

from airflow import DAG
from airflow.contrib.sensors.file_sensor import FileSensor
from airflow.operators.bash_operator import BashOperator

with DAG(
    "contrib_sensor",
    start_date=datetime.datetime(2021, 1, 1),
    schedule_interval="0 3 * * *",
    catchup=False,
) as dag:
    wait = FileSensor(task_id="wait", filepath="/tmp/ready", poke_interval=60)
    done = BashOperator(task_id="done", bash_command="echo {{ next_execution_date }}")
    wait >> done
