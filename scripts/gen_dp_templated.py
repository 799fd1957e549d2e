"""Regenerate airshift/data/dp_templated.json: what Airflow renders, and loads as a file.

Why: a string in an operator's ``template_fields`` that ends in one of its ``template_ext``
(``.sh``, ``.sql``, ``.json``...) is not rendered as text: Airflow loads it as a template
file, and a converted DAG fails with ``TemplateNotFound``. Which fields and endings those
are is a fact of each operator release, so it is read from the real classes here, not
kept by hand. ``tests/datapipeline`` checks the file against the runtime it tests with.

Usage: VENV/bin/python scripts/gen_dp_templated.py  (an Airflow 3 venv with the amazon
provider; it imports the classes listed in airshift/datapipeline/operators.py)
"""

from __future__ import annotations

import ast
import importlib
import json
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OPERATORS = ROOT / "airshift" / "datapipeline" / "operators.py"
OUT = ROOT / "airshift" / "data" / "dp_templated.json"


def symbols() -> list[tuple[str, str]]:
    """(module, class) of every ``Symbol(module, name)`` in operators.py, read with ``ast``."""
    tree = ast.parse(OPERATORS.read_text())
    constants = {
        t.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
        for t in node.targets
        if isinstance(t, ast.Name)
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Symbol":
            module_node, name_node = node.args
            if isinstance(module_node, ast.JoinedStr):
                module = "".join(
                    constants[v.value.id] if isinstance(v, ast.FormattedValue) else v.value
                    for v in module_node.values
                )
            else:
                module = module_node.value
            found.append((module, name_node.value))
    return found


def templated() -> dict[str, object]:
    """template_fields/template_ext of each class that Airflow renders."""
    classes: dict[str, object] = {}
    for module, name in symbols():
        cls = getattr(importlib.import_module(module), name)
        if not hasattr(cls, "template_fields"):
            continue  # not rendered by Airflow (deadline references, callbacks)
        classes[f"{module}.{name}"] = {
            "template_fields": sorted(cls.template_fields),
            "template_ext": sorted(getattr(cls, "template_ext", ())),
        }
    return classes


def main() -> None:
    packages = (
        "apache-airflow",
        "apache-airflow-providers-amazon",
        "apache-airflow-providers-standard",
        "apache-airflow-providers-common-sql",
    )
    payload = {
        "generated_from": {p: version(p) for p in packages},
        "classes": dict(sorted(templated().items())),
    }
    OUT.write_text(json.dumps(payload, indent=1) + "\n")
    print(f"wrote {OUT} ({len(payload['classes'])} classes)")


if __name__ == "__main__":
    main()
