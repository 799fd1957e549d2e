"""airshift: move Apache Airflow deployments without losing anything."""

from airshift.memory import bound_allocators

bound_allocators()

__version__ = "0.1.0"
