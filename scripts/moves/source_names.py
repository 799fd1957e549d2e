"""List the public names of a source Airflow and what each one is; runs *inside* that Airflow.

Why a probe: which object ``airflow.utils.types.NOTSET`` is (a sentinel, not a class) can only
be asked of the real package. ``gen_moves.py`` runs this with the source release's interpreter
and hands the answer to ``target_homes.py`` in the target release. It imports nothing from
airshift. Usage: python source_names.py OUT.json [EXTRA_OLD_NAME ...]
"""

import importlib
import json
import pkgutil
import sys
import warnings

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from target_homes import _foreign, describe  # a sibling probe: one description of objects

# Modules DAG and plugin code imports from. Server internals (www, api, jobs, migrations, cli,
# executors, dag_processing) are not DAG-author API and are left out.
PUBLIC_PREFIXES = (
    "airflow",
    "airflow.configuration",
    "airflow.contrib",
    "airflow.datasets",
    "airflow.decorators",
    "airflow.exceptions",
    "airflow.hooks",
    "airflow.io",
    "airflow.lineage",
    "airflow.listeners",
    "airflow.macros",
    "airflow.models",
    "airflow.notifications",
    "airflow.operators",
    "airflow.plugins_manager",
    "airflow.secrets",
    "airflow.security",
    "airflow.sensors",
    "airflow.settings",
    "airflow.template",
    "airflow.timetables",
    "airflow.triggers",
    "airflow.utils",
)


def is_public_module(name):
    if any(part.startswith("_") for part in name.split(".")):
        return False
    if name == "airflow":
        return True
    return any(name == p or name.startswith(p + ".") for p in PUBLIC_PREFIXES[1:])


def public_modules():
    import airflow

    names = ["airflow"]
    for info in pkgutil.walk_packages(airflow.__path__, "airflow.", onerror=lambda _: None):
        if is_public_module(info.name):
            names.append(info.name)
    return sorted(set(names))


def resolve(path):
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def main(out, *extra):
    warnings.simplefilter("ignore")
    records = {}
    for module_name in public_modules():
        try:
            module = importlib.import_module(module_name)
        except BaseException:
            continue
        names = getattr(module, "__all__", None) or [
            n for n in vars(module) if not n.startswith("_")
        ]
        for name in names:
            if name.startswith("_"):
                continue  # private, even when ``__all__`` lists it: not DAG-author API
            try:
                obj = getattr(module, name)
            except BaseException:
                continue
            record = describe(obj)
            if _foreign(record) and record["kind"] in ("module", "instance"):
                continue  # ``import os``, ``log = getLogger()`` inside a module are not API
            records[f"{module_name}.{name}"] = record
    for path in extra:  # deprecated 1.10 names exist only through module __getattr__
        if path.rpartition(".")[2].startswith("_"):
            continue
        try:
            records[path] = describe(resolve(path))
        except BaseException:
            continue
    for path, record in records.items():
        record["home"] = canonical_home(path, record)
    with open(out, "w") as fh:
        json.dump({"version": _version(), "names": records}, fh, sort_keys=True)


def canonical_home(path, record):
    """Where the object is defined, if importing it from there gives the same object."""
    if record["kind"] not in ("class", "function") or "<" in record["qualname"]:
        return path
    home = f"{record['module']}.{record['qualname']}"
    try:
        return home if resolve(home) is resolve(path) else path
    except BaseException:
        return path


def _version():
    import airflow

    return airflow.__version__


if __name__ == "__main__":
    main(*sys.argv[1:])
