"""Load a DAG folder (and plugins) with the real DagBag; runs *inside* the target Airflow venv.

Why a script and not an import: airshift and the target Airflow live in different
virtualenvs. ``import_check`` runs this file with the target's interpreter, once for the whole
folder, and reads one JSON document from stdout. It imports nothing from airshift.
Usage: python dagbag_probe.py DAG_FOLDER [PLUGINS_FOLDER]
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

    if hasattr(plugins_manager, "get_import_errors"):
        plugins_manager.ensure_plugins_loaded()
        return dict(plugins_manager.get_import_errors())
    plugins_manager.ensure_plugins_loaded()
    return dict(getattr(plugins_manager, "import_errors", {}))


def main(dag_folder, plugins_folder=None):
    warnings.simplefilter("default")
    plugin_errors = {}
    if plugins_folder:
        try:
            plugin_errors = _plugin_errors()
        except Exception as exc:  # a plugin that breaks the manager itself
            plugin_errors = {plugins_folder: f"{type(exc).__name__}: {exc}"}
    dagbag = _dagbag_class()
    options = {"dag_folder": dag_folder, "safe_mode": False}
    if "include_examples" in inspect.signature(dagbag.__init__).parameters:  # Airflow 2
        options["include_examples"] = False
    bag = dagbag(**options)
    result = {
        "files": sorted(bag.file_last_changed),
        "errors": {path: str(err) for path, err in bag.import_errors.items()},
        "warnings": {path: list(w) for path, w in getattr(bag, "captured_warnings", {}).items()},
        "dags": {dag_id: dag.fileloc for dag_id, dag in bag.dags.items()},
        "plugin_errors": plugin_errors,
    }
    sys.stdout.write("\n@@AIRSHIFT@@" + json.dumps(result))


if __name__ == "__main__":
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    main(*sys.argv[1:])
