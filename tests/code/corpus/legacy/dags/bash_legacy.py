"""Airflow 1.10 style: *_operator modules, days_ago, schedule_interval, execution_date."""

from datetime import timedelta

from airflow import DAG
from airflow.operators.bash_operator import BashOperator
from airflow.operators.dummy_operator import DummyOperator
from airflow.utils.dates import days_ago

default_args = {
    "owner": "data",
    "retries": 1,
    "retry_delay": timedelta(minutes=5),
}

dag = DAG(
    "bash_legacy",
    default_args=default_args,
    start_date=days_ago(2),
    schedule_interval="@daily",
)

start = DummyOperator(task_id="start", dag=dag)
echo = BashOperator(
    task_id="echo_date",
    bash_command="echo {{ execution_date }} {{ ds }}",
    dag=dag,
)
start >> echo
