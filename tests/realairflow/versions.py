"""The Airflow releases the tests migrate from and to, named once.

Why one place: the day Airflow 3.4.0 is installable, moving the tests from the beta to it is
this file's ``AIRFLOW_3_4`` (and regenerating ``airshift/data/revisions.json``); the MWAA lists
follow what Amazon MWAA runs (``aws/amazon-mwaa-docker-images`` ``images/airflow/*`` and
botocore's ``AirflowVersion``), see docs/airflow-3.4.md.
"""

from __future__ import annotations

# The 3.4 the tests use: a pre-release until 3.4.0 is on the index.
AIRFLOW_3_4 = "3.4.0b2"
# The newest final 3.x release (the default target of the main pairs).
NEWEST_3X = "3.3.2"
# Every Airflow version Amazon MWAA runs.
MWAA_2X = ("2.7.2", "2.8.1", "2.9.2", "2.10.1", "2.10.3", "2.11.0", "2.11.2")
MWAA_3X = ("3.0.6", "3.2.1", "3.3.1")
