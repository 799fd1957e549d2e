"""Constructor arguments of operators, sensors, hooks and DAG; runs *inside* an Airflow runtime.

Why: a provider or Airflow itself renames or drops an argument between releases
(``TriggerDagRunOperator(execution_date=...)``), and the DAG file then fails with
``TypeError`` or "Invalid arguments were passed". ``gen_moves.py`` lists the classes of the
source runtime with ``--list``, then describes each in both runtimes and keeps the differences.
An argument is *accepted* when any ``__init__`` along the class's MRO names it (operators pass
``**kwargs`` on to ``BaseOperator``, which rejects unknown ones).
Usage: python signatures.py --list OUT.json
       python signatures.py PATHS.json OUT.json   (PATHS: {"path": "path in this runtime"})
"""

import ast
import importlib
import inspect
import json
import sys
import textwrap
import warnings

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from target_homes import provider_roots, resolve  # a sibling probe script

ROOTS = ("airflow.operators", "airflow.sensors", "airflow.hooks", "airflow.models.dag")


def _bases():
    from airflow.hooks.base import BaseHook
    from airflow.models.baseoperator import BaseOperator

    return BaseOperator, BaseHook


def list_classes(out):
    """Every operator, sensor and hook class defined in a public core or provider module."""
    import pkgutil

    warnings.simplefilter("ignore")
    bases = _bases()
    # the DAG and its public spellings (``from airflow import DAG``); not the ``@dag`` decorator,
    # which takes ``**kwargs`` on Airflow 3, so its signature says nothing
    found = {"airflow.models.dag.DAG", "airflow.DAG", "airflow.models.DAG"}
    for root in (*ROOTS, *provider_roots()):
        try:
            package = importlib.import_module(root)
        except BaseException:  # optional dependencies missing
            continue
        modules = [package]
        for info in pkgutil.walk_packages(
            getattr(package, "__path__", []), root + ".", onerror=lambda _: None
        ):
            if any(p.startswith("_") for p in info.name.split(".")) or ".example_dags" in info.name:
                continue
            try:
                modules.append(importlib.import_module(info.name))
            except BaseException:
                continue
        for module in modules:
            for name, obj in vars(module).items():
                if (
                    inspect.isclass(obj)
                    and not name.startswith("_")
                    and obj.__module__ == module.__name__
                    and issubclass(obj, bases)
                ):
                    found.add(f"{module.__name__}.{name}")
    with open(out, "w") as fh:
        json.dump(sorted(found), fh)


def _params(function):
    try:
        params = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return []
    return [p for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def describe(obj):
    """Accepted keyword arguments (the union along the MRO for a class), the ones the class
    itself declares, and the ones it requires."""
    if not inspect.isclass(obj):  # a function such as the ``@dag`` decorator
        params = _params(obj)
        names = sorted(p.name for p in params)
        required = sorted(p.name for p in params if p.default is p.empty)
        return {"accepted": names, "own": names, "required": required}
    accepted, own, required, aliases = set(), set(), set(), {}
    for klass in inspect.getmro(obj):
        init = vars(klass).get("__init__")
        if init is None or klass is object:
            continue
        names = {p.name for p in _params(init)[1:]}
        accepted |= names
        if klass is obj:
            own |= names
            required |= {p.name for p in _params(init)[1:] if p.default is p.empty}
        for old, new in aliases_in(init, names).items():
            aliases.setdefault(old, new)
    return {
        "accepted": sorted(accepted),
        "own": sorted(own),
        "required": sorted(required),
        "aliases": aliases,
    }


def aliases_in(init, names):
    """``{old: new}`` for arguments the constructor itself treats as spellings of one value:
    ``new or old`` (and ``old or new``) or ``new if new is not None else old`` of two of its
    own arguments, the way a deprecated spelling is kept working (``self.cluster_name =
    cluster_name or name``). Both directions are listed; which spelling is the old one is
    what the target says (the one it no longer accepts)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(init)))
    except (OSError, TypeError, SyntaxError):
        return {}
    pairs = []
    for node in ast.walk(tree):
        if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or) and len(node.values) == 2:
            pairs.append([getattr(v, "id", None) for v in node.values])
        elif isinstance(node, ast.IfExp) and isinstance(node.test, ast.Compare):
            tested = getattr(node.test.left, "id", None)
            pairs.append([getattr(node.body, "id", None), getattr(node.orelse, "id", None)])
            if tested != pairs[-1][0]:
                pairs.pop()
    found = {}
    for first, second in pairs:
        if first in names and second in names and first != second:
            for old, new in ((second, first), (first, second)):
                found.setdefault(old, set()).add(new)
    return {old: min(new) for old, new in found.items() if len(new) == 1}


def provider_versions():
    from importlib.metadata import distributions

    return {
        d.metadata["Name"].lower(): d.version
        for d in distributions()
        if (d.metadata["Name"] or "").lower().startswith("apache-airflow")
    }


def main(paths_file, out):
    warnings.simplefilter("ignore")
    with open(paths_file) as fh:
        paths = json.load(fh)
    result = {}
    for key, path in paths.items():
        try:
            obj, _ = resolve(path)
        except BaseException:  # not importable here: nothing to compare
            continue
        if inspect.isclass(obj) or inspect.isfunction(obj):
            result[key] = describe(obj)
    with open(out, "w") as fh:
        json.dump({"classes": result, "versions": provider_versions()}, fh, sort_keys=True)


if __name__ == "__main__":
    if sys.argv[1] == "--list":
        list_classes(sys.argv[2])
    else:
        main(sys.argv[1], sys.argv[2])
