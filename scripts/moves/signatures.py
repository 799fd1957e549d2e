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

import importlib
import inspect
import json
import sys
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
    found = {"airflow.models.dag.DAG"}
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


def describe(cls):
    """Accepted keyword arguments (MRO union) and the ones the class itself requires."""
    accepted, required = set(), set()
    for klass in inspect.getmro(cls):
        init = vars(klass).get("__init__")
        if init is None or klass is object:
            continue
        try:
            params = inspect.signature(init).parameters.values()
        except (TypeError, ValueError):
            continue
        for p in list(params)[1:]:
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            accepted.add(p.name)
            if klass is cls and p.default is p.empty:
                required.add(p.name)
    return {"accepted": sorted(accepted), "required": sorted(required)}


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
        if inspect.isclass(obj):
            result[key] = describe(obj)
    with open(out, "w") as fh:
        json.dump(result, fh, sort_keys=True)


if __name__ == "__main__":
    if sys.argv[1] == "--list":
        list_classes(sys.argv[2])
    else:
        main(sys.argv[1], sys.argv[2])
