"""``airshift code``: will this DAG folder, its plugins, requirements and config work on Airflow X?

Why a package of its own: the check combines four very different sources of truth (ruff's
``AIR`` rules, airshift's own rules, a real DagBag import in the target Airflow, and the
target's own lists of config and dependency changes) into one list of findings, and the
upgrade applies only the fixes that are safe. ``check_project`` and ``upgrade_project`` are
the library entry points; ``airshift.code.cli`` is the thin command-line layer over them.
"""

import importlib

_EXPORTS = {
    "CheckOptions": "check",
    "check_project": "check",
    "Finding": "findings",
    "Report": "findings",
    "Severity": "findings",
    "upgrade_project": "upgrade",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    """Load on first use: the CLI imports this package for every command, and the checks
    pull in libcst and SQLAlchemy, which would slow down every ``airshift`` start."""
    if name not in _EXPORTS:
        raise AttributeError(name)
    return getattr(importlib.import_module(f"airshift.code.{_EXPORTS[name]}"), name)
