"""airshift: move Apache Airflow deployments without losing anything."""

__version__ = "0.1.0"
