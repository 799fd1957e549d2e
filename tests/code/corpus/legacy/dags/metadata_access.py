"""Early 2.x style: a task that reads the metadata database directly."""

import pendulum

from airflow import DAG, settings
from airflow.models import DagRun
from airflow.operators.python import PythonOperator
from airflow.utils.session import create_session, provide_session


@provide_session
def count_runs(session=None):
    return session.query(DagRun).count()


def cleanup():
    with create_session() as session:
        session.query(DagRun).filter(DagRun.dag_id == "x").delete()
    settings.Session().close()


with DAG(
    "metadata_access",
    start_date=pendulum.datetime(2022, 1, 1, tz="UTC"),
    schedule_interval=None,
) as dag:
    PythonOperator(task_id="count", python_callable=count_runs)
    PythonOperator(task_id="cleanup", python_callable=cleanup)
