"""Airflow 1.10 style SubDagOperator, removed in Airflow 3 (use TaskGroup)."""

from airflow import DAG
from airflow.operators.dummy_operator import DummyOperator
from airflow.operators.subdag_operator import SubDagOperator
from airflow.utils.dates import days_ago

START = days_ago(1)


def make_subdag(parent, child):
    sub = DAG(f"{parent}.{child}", start_date=START, schedule_interval="@once")
    DummyOperator(task_id="inner", dag=sub)
    return sub


with DAG("subdag_legacy", start_date=START, schedule_interval="@once") as dag:
    SubDagOperator(task_id="section", subdag=make_subdag("subdag_legacy", "section"))
