"""Lab airflow DAG for airshift's tests (the words airflow and dag let Airflow's safe mode parse it)."""

from datetime import datetime

from _compat import PythonSensor, dag, get_current_context, task

try:
    from airflow.sdk import Variable
    from airflow.sdk.bases.hook import BaseHook
except ImportError:
    from airflow.hooks.base import BaseHook
    from airflow.models import Variable


def _second_poke_succeeds():
    ti = get_current_context()["ti"]
    marker = f"lab_sensor_{ti.dag_id}_{ti.run_id}"
    import os
    import tempfile

    path = os.path.join(tempfile.gettempdir(), marker.replace(":", "_").replace("+", "_"))
    if os.path.exists(path):
        return True
    open(path, "w").close()
    return False


@dag(schedule=None, start_date=datetime(2024, 1, 1), catchup=False, tags=["lab", "pool"])
def lab_pool_sensor():
    wait = PythonSensor(
        task_id="wait_a_bit",
        python_callable=_second_poke_succeeds,
        mode="reschedule",
        poke_interval=1,
        timeout=120,
    )

    @task(pool="lab_pool", pool_slots=2)
    def use_secrets():
        conn = BaseHook.get_connection("lab_postgres")
        return {"var": Variable.get("lab_plain"), "login": conn.login}

    wait >> use_secrets()


lab_pool_sensor()
