"""Lab airflow DAG for airshift's tests (the words airflow and dag let Airflow's safe mode parse it)."""

from datetime import datetime

from _compat import LAB_DATASET, dag, task


@dag(schedule=[LAB_DATASET], start_date=datetime(2024, 1, 1), catchup=False, tags=["lab"])
def lab_dataset_consumer():
    @task
    def consume():
        return "consumed"

    consume()


lab_dataset_consumer()
