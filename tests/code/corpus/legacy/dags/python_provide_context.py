"""Airflow 1.10 style PythonOperator: provide_context and execution_date from the context."""

from airflow import DAG
from airflow.operators.python_operator import PythonOperator
from airflow.utils.dates import days_ago


def report(**kwargs):
    print("running for", kwargs["execution_date"])


with DAG(
    dag_id="python_provide_context",
    start_date=days_ago(1),
    schedule_interval=None,
) as dag:
    PythonOperator(task_id="report", python_callable=report, provide_context=True)
