"""Lab airflow DAG for airshift's tests (the words airflow and dag let Airflow's safe mode parse it)."""

from datetime import datetime, timedelta

from _compat import dag, get_current_context, task


@dag(
    schedule="@daily",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    default_args={"retries": 1, "retry_delay": timedelta(seconds=0)},
    tags=["lab", "retries"],
)
def lab_retry_fail():
    @task
    def ok():
        return "fine"

    @task
    def flaky_then_ok():
        if get_current_context()["ti"].try_number < 2:
            raise RuntimeError("first try fails on purpose")
        return "recovered"

    @task
    def always_fail():
        raise RuntimeError("always fails on purpose")

    @task
    def never_runs():
        return "unreachable"

    ok() >> flaky_then_ok()
    always_fail() >> never_runs()


lab_retry_fail()
