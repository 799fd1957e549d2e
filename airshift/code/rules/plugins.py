"""Plugin features Airflow removed: Flask/FAB UI (AS140) and components registered in plugins (AS141).

Why: Airflow 3 serves its UI with FastAPI and React; ``flask_blueprints``, ``appbuilder_views``
and ``appbuilder_menu_items`` only load through the FAB provider's compatibility layer, and
their replacements are ``fastapi_apps``, ``external_views`` and ``react_apps``. ``operators``,
``hooks``, ``executors`` and ``sensors`` on a plugin have been ignored since Airflow 2: code
importing ``airflow.operators.<plugin>`` fails. Neither has a mechanical fix.
"""

from __future__ import annotations

import libcst as cst

from airshift.code.findings import Severity
from airshift.code.rules.base import Analysis, Hit, Rule, RuleContext

PLUGIN_BASE = "airflow.plugins_manager.AirflowPlugin"
UI_ATTRIBUTES = {"flask_blueprints", "appbuilder_views", "appbuilder_menu_items"}
COMPONENT_ATTRIBUTES = {"operators", "hooks", "executors", "sensors"}


def _plugin_attributes(analysis: Analysis) -> list[tuple[cst.Name, str]]:
    """``(target node, attribute)`` for class attributes of every AirflowPlugin subclass."""
    found: list[tuple[cst.Name, str]] = []
    for cls in analysis.nodes(cst.ClassDef):
        if not any(PLUGIN_BASE in analysis.names(base.value) for base in cls.bases):
            continue
        for statement in cls.body.body:
            if not isinstance(statement, cst.SimpleStatementLine):
                continue  # methods and nested classes register nothing
            for small in statement.body:
                targets = [t.target for t in getattr(small, "targets", ())]
                targets += [small.target] if isinstance(small, cst.AnnAssign) else []
                found += [(t, t.value) for t in targets if isinstance(t, cst.Name)]
    return found


class PluginUiRule(Rule):
    """Flask/FAB UI on a plugin (`flask_blueprints`, `appbuilder_views`, `appbuilder_menu_items`).

    ## What it does
    Finds these attributes on `AirflowPlugin` subclasses. They break on Airflow 3 without the
    FAB provider in the requirements, and are deprecated with it.

    ## Why is this bad?
    Airflow 3 serves its UI with FastAPI and React; Flask views only load through the FAB
    provider's compatibility layer.

    ## Example
    ```python
    class MyPlugin(AirflowPlugin):
        flask_blueprints = [bp]
    ```

    ## Use instead
    ```python
    class MyPlugin(AirflowPlugin):
        fastapi_apps = [{"app": app, "url_prefix": "/my", "name": "My app"}]
    ```
    """

    code = "AS140"
    name = "plugin-flask-ui"
    supersedes = frozenset({"AIR301"})
    since = "3"

    def check(self, analysis: Analysis, ctx: RuleContext) -> list[Hit]:
        return [
            self._hit(analysis.line(node), attribute, ctx)
            for node, attribute in _plugin_attributes(analysis)
            if attribute in UI_ATTRIBUTES
        ]

    def _hit(self, line: int, attribute: str, ctx: RuleContext) -> Hit:
        replacement = "`fastapi_apps` and `external_views`" + (
            "" if attribute != "appbuilder_menu_items" else " (menu entries)"
        )
        if ctx.has_fab_provider:
            severity, why = (
                Severity.DEPRECATED,
                "loads only through the FAB provider's legacy layer",
            )
        else:
            severity, why = (
                Severity.BREAKS,
                "needs apache-airflow-providers-fab, not in requirements",
            )
        message = f"`{attribute}` is Flask/FAB UI, gone from Airflow 3's UI ({why}); move it to {replacement}."
        return Hit(line, severity, message)


class PluginComponentRule(Rule):
    """`operators`, `hooks`, `executors` or `sensors` registered on a plugin.

    ## What it does
    Finds these attributes on `AirflowPlugin` subclasses.

    ## Why is this bad?
    Plugins stopped registering them in Airflow 2: code importing `airflow.operators.<plugin>`
    fails.

    ## Example
    ```python
    class MyPlugin(AirflowPlugin):
        operators = [MyOperator]
    ```

    ## Use instead
    ```python
    from my_company.operators import MyOperator  # a module on the DAG folder or plugins path
    ```
    """

    code = "AS141"
    name = "plugin-components"
    supersedes = frozenset({"AIR301"})

    def check(self, analysis: Analysis, ctx: RuleContext) -> list[Hit]:
        return [
            Hit(
                analysis.line(node),
                Severity.BREAKS,
                f"Plugins no longer register `{attribute}` (removed in Airflow 2); import "
                "them from your own module instead.",
            )
            for node, attribute in _plugin_attributes(analysis)
            if attribute in COMPONENT_ATTRIBUTES
        ]
