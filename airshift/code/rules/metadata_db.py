"""Direct metadata-database access from DAG and task code (AS150).

Why: Airflow 3 runs tasks and DAG parsing through the Task SDK and the execution API; task code
has no database connection, so ``settings.Session``, ``create_session`` and ``provide_session``
fail at run time. Nothing fails at import, which is why only a static rule can warn early.
The replacement (the REST API or the Python client, or Task SDK accessors) depends on what the
code wanted, so there is no automatic fix. In plugins the code may run in the API server, so
there it is advice.
"""

from __future__ import annotations

from itertools import chain

import libcst as cst

from airshift.code.findings import Severity
from airshift.code.rules.base import Analysis, Hit, Rule, RuleContext

DB_ACCESS = {
    "airflow.settings.Session": "settings.Session",
    "airflow.utils.session.create_session": "create_session",
    "airflow.utils.session.provide_session": "provide_session",
    "airflow.utils.db.create_session": "create_session",
    "airflow.utils.db.provide_session": "provide_session",
}


class MetadataDbRule(Rule):
    """ORM sessions on the metadata database in DAG or task code.

    ## What it does
    Finds `settings.Session`, `create_session` and `provide_session` outside import lines.
    It breaks in DAG files and is advice in plugins (which may run in the API server).

    ## Why is this bad?
    Airflow 3 runs tasks and parses DAGs through the Task SDK: task code has no database
    connection, so the call fails when the task runs. Nothing fails on import.

    ## Example
    ```python
    with create_session() as session:
        session.query(DagRun).filter(...).count()
    ```

    ## Use instead
    ```python
    # the REST API, the Python client (apache-airflow-client) or the Task SDK's accessors
    ```
    """

    code = "AS150"
    name = "metadata-db-access"
    since = "3"

    def check(self, analysis: Analysis, ctx: RuleContext) -> list[Hit]:
        severity = Severity.BREAKS if ctx.kind == "dag" else Severity.ADVICE
        seen: set[tuple[int, str]] = set()
        hits = []
        for node in chain(analysis.nodes(cst.Name), analysis.nodes(cst.Attribute)):
            if analysis.inside(node, cst.Import, cst.ImportFrom):
                continue
            for name in analysis.names(node) & DB_ACCESS.keys():
                key = (analysis.line(node), DB_ACCESS[name])
                if key in seen:
                    continue
                seen.add(key)
                message = (
                    f"`{DB_ACCESS[name]}` opens the metadata database, which Airflow 3 task and "
                    "DAG code cannot reach; use the REST API / Python client or Task SDK accessors."
                )
                hits.append(Hit(key[0], severity, message))
        return hits
