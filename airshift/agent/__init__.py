"""The airshift agent: export and import running inside an Airflow environment.

Why: the users who most need a migration (Amazon MWAA, managed Airflow 3) cannot reach
their metadata database; Airflow 3 also forbids database access from task code. What
still reaches the database is the web server (2.x) or API server (3.x), and both load
plugins. The agent is such a plugin: it takes a job (export to an archive URL, import from
one) from an administrator over Airflow's own authentication, runs it in a separate
process with airshift's library, and reports progress and the final report when polled.
The CLI on the user's machine drives it (``airshift agent ...``).

Modules: ``protocol`` (what crosses the wire, shared by both sides), ``library`` (the one
place that calls airshift's export/import), ``jobs`` (job records in the environment's
own database, the job process), ``service`` (the endpoints, framework-free),
``airflow2``/``airflow3`` (Flask blueprint / FastAPI app and their auth), ``plugin``
(what Airflow loads), ``client``/``login``/``remote`` (the CLI side), ``bundle``.
"""
