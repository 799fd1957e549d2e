"""An adversarial definition (keywords, collisions, quotes, newlines, unicode, Jinja markers
and a code-injection attempt) must become safe, valid, equivalent code."""

from __future__ import annotations

import ast
import json
from pathlib import Path

HERE = Path(__file__).parent
DEFINITION = json.loads((HERE / "definitions" / "adversarial.json").read_text())
OBJECTS = {o["id"]: o for o in DEFINITION["objects"]}
INJECTION_ID = "\"); import os; os.system('echo pwned') #"

# every callable the generated module may call, by name
ALLOWED_CALLS = {"DAG", "Param", "BashOperator", "SnsNotifier", "CronTriggerTimetable", "datetime"}


def test_adversarial_module_contains_nothing_but_the_dag(converted):
    code = converted["adversarial"].dags[0].code
    tree = ast.parse(code)
    statements = [type(s).__name__ for s in tree.body]
    assert statements[0] == "Expr"  # the docstring
    assert set(statements[1:-1]) <= {"ImportFrom", "Import"} and statements[-1] == "With"
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr
            assert name in ALLOWED_CALLS, name
        if isinstance(node, ast.Name):
            assert node.id not in {"os", "__import__", "eval", "exec", "system"}
    # the injected text is present only as string constants
    constants = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)]
    assert any(isinstance(c, str) and INJECTION_ID in c for c in constants)


def test_adversarial_ids_are_unique_safe_task_ids(dagbag):
    tasks = dagbag["dags"]["adversarial"]["tasks"]
    for task_id in tasks:
        assert task_id.isascii() and task_id.replace("_", "a").isalnum(), task_id
    names = {t["display_name"]: task_id for task_id, t in tasks.items()}
    # the original ids/names survive exactly, as display names
    assert names[OBJECTS["import"]["name"]] == "import"
    assert {names["a-b"], names["a_b"], names["a.b"]} == {"a_b", "a_b_2", "a_b_3"}
    assert "ünïcødé ✓ 🚀" in names and "line1\nline2" in names and INJECTION_ID in names
    for keyword in ("None", "dag", "tasks", "BashOperator"):
        assert names[keyword] == keyword


def test_adversarial_edges_survive_renaming(dagbag):
    tasks = dagbag["dags"]["adversarial"]["tasks"]
    unicode_task = next(t for t, v in tasks.items() if v["display_name"] == "ünïcødé ✓ 🚀")
    assert sorted(tasks[unicode_task]["upstream"]) == ["a_b", "a_b_2", "a_b_3"]
    assert tasks["None"]["upstream"] == ["import"]
    assert tasks["line1_line2"]["upstream"] == ["BashOperator"]


def test_adversarial_text_renders_verbatim(dagbag):
    tasks = dagbag["dags"]["adversarial"]["tasks"]
    command = OBJECTS["import"]["command"].replace("#{format(@scheduledStartTime,'YYYY')}", "2025")
    assert tasks["import"]["rendered"]["bash_command"] == command
    # parameter values are data, never code or templates
    assert (
        tasks["None"]["rendered"]["bash_command"]
        == "echo '); import os; os.system('echo pwned'); ('"
    )
    assert dagbag["dags"]["adversarial"]["params"]["myJinja"] == "{{ 7*7 }}"
    assert tasks["dag"]["rendered"]["bash_command"] == "echo '''\"\"\"\\n{{ x }} / dag"
    assert tasks["line1_line2"]["rendered"]["bash_command"] == "echo nl\necho two"
    injected = next(v for v in tasks.values() if v["display_name"] == INJECTION_ID)
    assert injected["rendered"]["bash_command"] == "run.sh"  # guarded, yet verbatim
    [alarm] = injected["rendered_callbacks"]
    assert alarm["subject"] == '{{ dag.dag_id }} """ ' + INJECTION_ID
    assert alarm["message"] == "{% if True %}x{% endif %} 2025-01-05T06:00:00"


LITERALS = ["{{ 7*7 }}", "{%", "{#", "}}", "'''", '"""', "\\", "\n", "\u2028", "🚀", "{{{", "x{"]


def test_templates_escape_any_literal_text(airflow, tmp_path):
    """Literal text next to an expression renders as itself in Airflow's own Jinja."""
    from airshift.datapipeline.jinja import Jinja, Template, literal

    cases = [(Template.text(t) + Template([Jinja("1")])).render() for t in LITERALS]
    cases += ["{{ " + literal(t) + " }}" for t in LITERALS]
    script = tmp_path / "render.py"
    script.write_text(
        "import json, sys, jinja2\n"
        "cases = json.loads(sys.argv[1])\n"
        "print(json.dumps([jinja2.Environment().from_string(c).render() for c in cases]))\n"
    )
    proc = airflow.run(["python", str(script), json.dumps(cases)], home=tmp_path)
    assert json.loads(proc.stdout) == [t + "1" for t in LITERALS] + LITERALS
