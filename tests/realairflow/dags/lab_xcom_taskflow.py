"""Lab airflow DAG for airshift's tests (the words airflow and dag let Airflow's safe mode parse it)."""

from datetime import datetime

from _compat import LAB_DATASET, BashOperator, dag, get_current_context, task


@dag(schedule="@daily", start_date=datetime(2024, 1, 1), catchup=False, tags=["lab", "xcom"])
def lab_xcom_taskflow():
    @task
    def make_dict():
        return {"rows": 3, "name": "lab", "nested": {"list": [1, 2]}}

    @task(multiple_outputs=True)
    def split():
        return {"left": 1, "right": "two"}

    @task
    def explicit_keys():
        ti = get_current_context()["ti"]
        ti.xcom_push(key="a_list", value=[1, 2, 3])
        ti.xcom_push(key="a_datetime", value=datetime(2024, 5, 6, 7, 8, 9))
        ti.xcom_push(key="a_tuple", value=(1, "two"))

    @task
    def double(x):
        return x * 2

    @task(outlets=[LAB_DATASET])
    def publish(values):
        return sum(values)

    bash = BashOperator(task_id="bash_echo", bash_command="echo lab-bash-value")
    make_dict() >> split() >> explicit_keys() >> bash
    publish(double.expand(x=[1, 2, 3]))


lab_xcom_taskflow()
