"""Airflow runtimes: the virtualenvs of real Airflow releases airshift runs migrations in.

``releases`` says how a release's dependencies are chosen (as of its release date), ``venv``
makes and describes the virtualenvs, ``cli`` is ``airshift runtimes``; ``airshift.airflow_env``
finds or installs the runtime a command needs and runs its CLI.
"""
