"""Imports that work on Airflow 2.7+ and 3.x, so one set of DAGs makes history on both."""

try:  # Airflow 3
    from airflow.providers.standard.operators.bash import BashOperator
    from airflow.providers.standard.sensors.python import PythonSensor
    from airflow.sdk import Asset as Dataset
    from airflow.sdk import dag, get_current_context, task
except ImportError:  # Airflow 2
    from airflow.datasets import Dataset
    from airflow.decorators import dag, task
    from airflow.operators.bash import BashOperator
    from airflow.operators.python import get_current_context
    from airflow.sensors.python import PythonSensor

__all__ = ["BashOperator", "Dataset", "PythonSensor", "dag", "get_current_context", "task"]
LAB_DATASET = Dataset("s3://airshift-lab/out.csv")
