"""Early Airflow 2 style: dummy operator, schedule_interval, context execution_date."""

from datetime import datetime, timedelta

from airflow import DAG
from airflow.operators.dummy import DummyOperator
from airflow.operators.python import PythonOperator, get_current_context


def show():
    context = get_current_context()
    print(context["execution_date"], context["next_ds"])


with DAG(
    dag_id="early2_style",
    start_date=datetime(2021, 6, 1),
    schedule_interval=timedelta(hours=6),
    catchup=False,
    tags=["legacy"],
) as dag:
    first = DummyOperator(task_id="first")
    second = PythonOperator(task_id="show", python_callable=show)
    first >> second
