"""``airshift code``: will this DAG folder, its plugins, requirements and config work on Airflow X?

Why a package of its own: the check combines four very different sources of truth (ruff's
``AIR`` rules, airshift's own rules, a real DagBag import in the target Airflow, and the
target's own lists of config and dependency changes) into one list of findings, and the
upgrade applies only the fixes that are safe. ``check_project`` and ``upgrade_project`` are
the library entry points; ``airshift.code.cli`` is the thin command-line layer over them.
"""

from airshift.code.check import CheckOptions, check_project
from airshift.code.findings import Finding, Report, Severity
from airshift.code.upgrade import upgrade_project

__all__ = ["CheckOptions", "Finding", "Report", "Severity", "check_project", "upgrade_project"]
