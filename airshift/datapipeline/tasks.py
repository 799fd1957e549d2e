"""Pipeline objects as Airflow tasks: the builder that combines every kind of object.

Why one builder per DAG: task ids must be unique within a DAG, EMR clusters are shared by
the activities that run on them, and preconditions attach to whichever activities consume
a node. The builder records every task with its pipeline object, so the report can say
what each object became.
"""

from __future__ import annotations

from airshift.datapipeline.activities import ActivityTasks
from airshift.datapipeline.builder import Chain, TaskSpec, sanitize
from airshift.datapipeline.preconditions import PreconditionTasks

__all__ = ["Chain", "TaskBuilder", "TaskSpec", "sanitize"]


class TaskBuilder(ActivityTasks, PreconditionTasks):
    """Builds the tasks and edges of one DAG from its activities."""
