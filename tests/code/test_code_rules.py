"""Each airshift rule and codemod: before/after code, the finding it reports, idempotence."""

from __future__ import annotations

import textwrap

import libcst as cst
import pytest

from airshift.code.findings import Applicability, Severity
from airshift.code.import_cleanup import drop_leftover_imports
from airshift.code.rules import RuleContext, apply_fixes, check_source
from airshift.code.rules.rename import rename_imports
from airshift.code.sources import syntax_error
from airshift.code.target import parse_target

AF3 = RuleContext(parse_target("3.3.2"), "dag")
AF2 = RuleContext(parse_target("2.10.5"), "dag")

FIXES = {
    "AS101": (
        """
        from airflow.contrib.sensors.file_sensor import FileSensor
        wait = FileSensor(task_id="wait", filepath="/tmp/x")
        """,
        """
        from airflow.providers.standard.sensors.filesystem import FileSensor
        wait = FileSensor(task_id="wait", filepath="/tmp/x")
        """,
    ),
    "AS102": (
        """
        from airflow.operators.dummy_operator import DummyOperator
        start = DummyOperator(task_id="start")
        """,
        """
        from airflow.providers.standard.operators.empty import EmptyOperator
        start = EmptyOperator(task_id="start")
        """,
    ),
    "AS103": (
        """
        from airflow.operators.bash import BashOperator
        BashOperator(task_id="a", bash_command="true")
        """,
        """
        from airflow.providers.standard.operators.bash import BashOperator
        BashOperator(task_id="a", bash_command="true")
        """,
    ),
    "AS104": (
        """
        from airflow.utils.dates import datetime
        from airflow.utils.weekday import WeekDay
        START = datetime(2024, 1, 1)
        DAYS = {WeekDay.MONDAY}
        """,
        """
        from datetime import datetime
        from airflow.providers.standard.utils.weekday import WeekDay
        START = datetime(2024, 1, 1)
        DAYS = {WeekDay.MONDAY}
        """,
    ),
    "AS105": (
        """
        from airflow.utils.types import NOTSET
        from airflow.utils.context import context_merge
        def run(value=NOTSET, **context):
            context_merge(context, extra=1)
            return value is NOTSET
        """,
        """
        from airflow.sdk.definitions._internal.types import NOTSET
        from airflow.sdk.definitions.context import context_merge
        def run(value=NOTSET, **context):
            context_merge(context, extra=1)
            return value is NOTSET
        """,
    ),
    "AS111": (
        """
        from airflow import DAG
        from airflow.operators.subdag import SubDagOperator
        from airflow.providers.standard.operators.empty import EmptyOperator
        ARGS = {"owner": "me"}
        def section(parent, child, args):
            sub = DAG(f"{parent}.{child}", default_args=args, schedule="@daily")
            EmptyOperator(task_id="inner", dag=sub)
            return sub
        with DAG("parent", schedule=None) as dag:
            one = SubDagOperator(task_id="one", subdag=section("parent", "one", ARGS))
            one >> EmptyOperator(task_id="end")
        """,
        """
        from airflow import DAG
        from airflow.providers.standard.operators.empty import EmptyOperator
        from airflow.sdk import TaskGroup

        ARGS = {"owner": "me"}
        def section(parent, child, args, group_id):
            sub = TaskGroup(group_id=group_id, default_args=args)
            EmptyOperator(task_id="inner", task_group=sub)
            return sub
        with DAG("parent", schedule=None) as dag:
            one = section("parent", "one", ARGS, group_id="one")
            one >> EmptyOperator(task_id="end")
        """,
    ),
    "AS110": (
        """
        from airflow.providers.standard.operators.python import PythonOperator
        PythonOperator(task_id="a", python_callable=print, provide_context=True)
        PythonOperator(
            task_id="b",
            provide_context=True,
            python_callable=print,
        )
        """,
        """
        from airflow.providers.standard.operators.python import PythonOperator
        PythonOperator(task_id="a", python_callable=print)
        PythonOperator(
            task_id="b",
            python_callable=print,
        )
        """,
    ),
    "AS120": (
        """
        from airflow.utils.dates import days_ago
        START = days_ago(2)
        LATER = days_ago(n + 1)
        KEEP = days_ago(1, hour=3)
        """,
        """
        from airflow.utils.dates import days_ago
        import pendulum

        START = pendulum.today("UTC").add(days=-2)
        LATER = pendulum.today("UTC").add(days=-(n + 1))
        KEEP = days_ago(1, hour=3)
        """,
    ),
    "AS121": (
        """
        from airflow import models
        with models.DAG("a", schedule_interval="@daily") as one:
            pass
        with models.DAG("b", schedule_interval=None) as two:
            pass
        """,
        """
        from airflow import models
        with models.DAG("a", schedule="@daily") as one:
            pass
        with models.DAG("b", schedule=None) as two:
            pass
        """,
    ),
    "AS160": (
        """
        from airflow import DAG
        with DAG("a", schedule=None, default_view="graph", orientation="LR") as dag:
            pass
        """,
        """
        from airflow import DAG
        with DAG("a", schedule=None) as dag:
            pass
        """,
    ),
    "AS130": (
        """
        CMD = "echo {{ execution_date }} {{ dag_run.execution_date }} execution_date"
        """,
        """
        CMD = "echo {{ logical_date }} {{ dag_run.logical_date }} execution_date"
        """,
    ),
    "AS131": (
        """
        def report(**kwargs):
            return kwargs["execution_date"], other["execution_date"]
        """,
        """
        def report(**kwargs):
            return kwargs["logical_date"], other["execution_date"]
        """,
    ),
}

CHECK_ONLY = {
    "AS161": "from airflow.operators.subdag import SubDagOperator\n",  # no release brings it back
    "AS111": "from airflow.operators.subdag import SubDagOperator\n",
    "AS130": 'CMD = "{{ next_ds }}"\n',
    "AS140": (
        "from airflow.plugins_manager import AirflowPlugin\n"
        "class P(AirflowPlugin):\n    name = 'p'\n    flask_blueprints = []\n"
    ),
    "AS141": (
        "from airflow.plugins_manager import AirflowPlugin\n"
        "class P(AirflowPlugin):\n    name = 'p'\n    operators = []\n"
        "    def on_load(self, *args, **kwargs):\n        pass\n"
    ),
    "AS150": (
        "from airflow.utils.session import create_session\n"
        "def task():\n    with create_session() as s:\n        s.execute('select 1')\n"
    ),
}


UNSAFE_MOVE = """
from airflow.utils.python_virtualenv import write_python_script
write_python_script({}, "out.py")
"""


def _code(text: str) -> str:
    return textwrap.dedent(text).lstrip()


@pytest.mark.parametrize("rule", sorted(FIXES))
def test_fix_before_after_and_idempotent(rule: str) -> None:
    before, after = (_code(t) for t in FIXES[rule])
    findings = check_source(before, "dag.py", AF3).findings
    assert any(
        (f.rule == rule and f.fixable and f.severity is Severity.BREAKS)
        or f.rule == rule == "AS103"
        for f in findings
    ), findings
    fixed = apply_fixes(before, AF3)
    assert fixed == after
    assert apply_fixes(fixed, AF3) == fixed
    assert syntax_error(fixed) is None
    assert not [
        f for f in check_source(fixed, "dag.py", AF3).findings if f.rule == rule and f.fixable
    ]


@pytest.mark.parametrize("rule", sorted(CHECK_ONLY))
def test_rules_without_fix_report_and_leave_code_alone(rule: str) -> None:
    source = CHECK_ONLY[rule]
    findings = check_source(source, "x.py", AF3).findings
    assert any(f.rule == rule and not f.fixable for f in findings), findings
    if rule != "AS130":
        assert apply_fixes(source, AF3) == source


def test_airflow2_target_moves_only_to_airflow2_homes() -> None:
    source = "from airflow.operators.bash_operator import BashOperator\nBashOperator(task_id='a')\n"
    findings = check_source(source, "x.py", AF2).findings
    assert [(f.rule, f.severity) for f in findings] == [("AS102", Severity.DEPRECATED)]
    assert apply_fixes(source, AF2).startswith("from airflow.operators.bash import BashOperator")
    assert not check_source(CHECK_ONLY["AS111"], "x.py", AF2).findings


def test_fixes_need_the_target_to_have_the_replacement() -> None:
    """``schedule=`` exists since 2.4 and ``logical_date`` since 2.2: older targets keep the code."""
    old = RuleContext(parse_target("2.1.4"), "dag")
    for rule in ("AS121", "AS130"):
        before = _code(FIXES[rule][0])
        assert rule not in {f.rule for f in check_source(before, "x.py", old).findings}
        assert apply_fixes(before, old) == before


def test_fab_provider_makes_flask_views_deprecated_not_breaking() -> None:
    with_fab = RuleContext(parse_target("3.3.2"), "plugin", has_fab_provider=True)
    (finding,) = check_source(CHECK_ONLY["AS140"], "p.py", with_fab).findings
    assert finding.severity is Severity.DEPRECATED


def test_metadata_access_in_plugins_is_advice() -> None:
    plugin = RuleContext(parse_target("3.3.2"), "plugin")
    (finding,) = check_source(CHECK_ONLY["AS150"], "p.py", plugin).findings
    assert finding.severity is Severity.ADVICE


def test_imports_added_by_fixes_but_unused_are_dropped_and_own_imports_kept() -> None:
    before = "from airflow import models\nimport os\n\nwith models.DAG('a') as d:\n    pass\n"
    after_ruff = (
        "from airflow import models\nimport os\nfrom airflow.sdk import DAG\n\n"
        "with models.DAG('a') as d:\n    pass\n"
    )
    assert drop_leftover_imports(before, after_ruff) == before
    used = after_ruff.replace("models.DAG", "DAG")
    # ``models`` was used before the fix and is not after it: the fix's leftover goes too
    assert drop_leftover_imports(before, used) == used.replace("from airflow import models\n", "")


def test_imports_the_fixes_made_unused_are_removed_and_only_those() -> None:
    """ruff renames ``Dataset`` to ``Asset`` and keeps ``from airflow.datasets import Dataset``,
    which alone makes the file fail on Airflow 3; an import unused before the fix stays."""
    before = _code(
        """
        from airflow.datasets import Dataset
        from airflow.utils.dates import days_ago
        import json
        SOURCE = Dataset("s3://bucket/key")
        """
    )
    after = _code(
        """
        from airflow.datasets import Dataset
        from airflow.sdk import Asset
        from airflow.utils.dates import days_ago
        import json
        SOURCE = Asset("s3://bucket/key")
        """
    )
    cleaned = drop_leftover_imports(before, after)
    assert "airflow.datasets" not in cleaned
    assert "import days_ago" in cleaned and "import json" in cleaned  # unused before: kept
    assert drop_leftover_imports(before, cleaned) == cleaned


def test_unverified_moves_are_unsafe_fixes() -> None:
    """Three different ``write_python_script`` functions exist on 3.3.2 (standard provider,
    cncf.kubernetes provider, compat shim): the move is only applied with --unsafe-fixes."""
    source = _code(UNSAFE_MOVE)
    (finding,) = [
        f for f in check_source(source, "x.py", AF3).findings if f.rule.startswith("AS10")
    ]
    assert finding.fix is Applicability.UNSAFE and not finding.fixable
    assert apply_fixes(source, AF3) == source
    fixed = apply_fixes(source, AF3, unsafe=True)
    assert fixed != source and apply_fixes(fixed, AF3, unsafe=True) == fixed


GKE_DELETE = """
from airflow.providers.google.cloud.operators.kubernetes_engine import GKEDeleteClusterOperator
GKEDeleteClusterOperator(task_id="delete", project_id="p", location="l", name="c")
"""


@pytest.mark.parametrize("target", ["3.3.2", "3.4.0b2"])
def test_a_spelling_the_source_treated_as_the_new_argument_is_a_safe_rename(target: str) -> None:
    """google 12.0.0's ``GKEDeleteClusterOperator`` did ``self.cluster_name = cluster_name or
    name``; the provider released with Airflow 3 has only ``cluster_name``: the source code
    itself says ``name=`` meant ``cluster_name=``, so the rename is safe (and idempotent)."""
    ctx = RuleContext(parse_target(target), "dag")
    source = _code(GKE_DELETE)
    (finding,) = [f for f in check_source(source, "x.py", ctx).findings if f.rule == "AS160"]
    assert finding.fix is Applicability.SAFE and "`cluster_name`" in finding.message
    fixed = apply_fixes(source, ctx)
    assert fixed == source.replace('name="c"', 'cluster_name="c"')
    assert apply_fixes(fixed, ctx) == fixed


def test_no_rename_onto_a_keyword_the_call_already_passes() -> None:
    source = _code(GKE_DELETE).replace('name="c"', 'name="c", cluster_name="d"')
    (finding,) = [f for f in check_source(source, "x.py", AF3).findings if f.rule == "AS160"]
    assert finding.fix is None
    assert apply_fixes(source, AF3, unsafe=True) == source


def test_a_move_out_of_a_parenthesized_import_keeps_the_other_names_parseable() -> None:
    """Two or more names left on a multi-line import keep its parentheses (without them the
    line breaks between the names would not parse)."""
    source = "from a.b import (\n    c,\n    d,\n    e,\n)\nc, d, e\n"
    fixed = rename_imports(cst.parse_module(source), {"a.b.d": "x.d"}).code
    assert fixed == "from a.b import (\n    c,\n    e,\n)\nfrom x import d\nc, d, e\n"
    one = rename_imports(cst.parse_module(fixed), {"a.b.c": "x.c"}).code
    assert one.startswith("from a.b import e\nfrom x import c\n")
