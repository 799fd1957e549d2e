"""Load DAG folders (and plugins) with the real DagBag; runs *inside* the target Airflow venv.

Why a script and not an import: airshift and the target Airflow live in different
virtualenvs. ``import_check`` runs this file with the target's interpreter, once for the whole
folder, and reads one JSON document from stdout. It imports nothing from airshift. Several DAG
folders get one DagBag each in the same process, so heavy provider imports are paid once.

The folder is seen as the scheduler sees it: the DAG folder and the plugins folder are on
``sys.path`` (Airflow 3's DAG processor adds the bundle path, Airflow 2 the DAGs folder), so
helper modules beside the DAGs (``_compat.py``, ``common/``) import; ``.airflowignore`` and
``[core] dag_discovery_safe_mode`` apply as configured, because the DagBag itself reads them.
Helper modules imported from one folder are forgotten before the next folder is loaded, so
two copies of a project never share a module.
Usage: python dagbag_probe.py PLUGINS_FOLDER|- DAG_FOLDER [DAG_FOLDER ...]
"""

import inspect
import json
import os
import sys
import warnings


def _dagbag_class():
    try:
        from airflow.dag_processing.dagbag import DagBag  # Airflow 3.1+
    except ImportError:
        from airflow.models.dagbag import DagBag
    return DagBag


def _plugin_errors():
    from airflow import plugins_manager

    plugins_manager.ensure_plugins_loaded()
    if hasattr(plugins_manager, "get_import_errors"):
        return dict(plugins_manager.get_import_errors())
    return dict(getattr(plugins_manager, "import_errors", {}))


def _load(dag_folder):
    dagbag = _dagbag_class()
    options = {"dag_folder": dag_folder}
    if "include_examples" in inspect.signature(dagbag.__init__).parameters:  # Airflow 2
        options["include_examples"] = False
    before = set(sys.modules)
    sys.path.append(dag_folder)
    try:
        bag = dagbag(**options)
    finally:
        sys.path.remove(dag_folder)
        _forget_modules_from(dag_folder, before)
    return {
        "files": sorted(bag.file_last_changed),
        "errors": {path: str(err) for path, err in bag.import_errors.items()},
        "warnings": {path: list(w) for path, w in getattr(bag, "captured_warnings", {}).items()},
        "dags": {dag_id: dag.fileloc for dag_id, dag in bag.dags.items()},
    }


def _forget_modules_from(folder, before):
    """Drop modules imported from ``folder`` (helpers beside the DAGs) out of sys.modules."""
    prefix = os.path.join(os.path.realpath(folder), "")
    for name in set(sys.modules) - before:
        path = getattr(sys.modules.get(name), "__file__", None) or ""
        if os.path.realpath(path).startswith(prefix):
            del sys.modules[name]


def main(plugins_folder, *dag_folders):
    warnings.simplefilter("default")
    plugin_errors = {}
    if plugins_folder != "-":
        if plugins_folder not in sys.path:
            sys.path.append(plugins_folder)
        try:
            plugin_errors = _plugin_errors()
        except Exception as exc:  # a plugin that breaks the manager itself
            plugin_errors = {plugins_folder: f"{type(exc).__name__}: {exc}"}
    result = {
        "bags": {folder: _load(folder) for folder in dag_folders},
        "plugin_errors": plugin_errors,
    }
    sys.stdout.write("\n@@AIRSHIFT@@" + json.dumps(result))


if __name__ == "__main__":
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    main(*sys.argv[1:])
