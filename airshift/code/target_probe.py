"""Dump what the target Airflow says about config and providers; runs *inside* the target venv.

Why: Airflow 3 keeps the list of renamed, removed and re-defaulted options in
``airflow/cli/commands/config_command.py`` (CONFIGS_CHANGES, what ``airflow config lint``
uses), and every version keeps ``conf.deprecated_options`` and the description of all known
options; ``providers_manager.MIN_PROVIDER_VERSIONS`` lists the oldest providers it accepts, and
the installed providers' metadata says which Airflow each release was built for.
airshift reads them from the target rather than copying them. Prints one JSON document.
"""

import contextlib
import json
import sys


def _changes():
    try:
        from airflow.cli.commands.config_command import CONFIGS_CHANGES
    except ImportError:  # Airflow 2 has no such list
        return []
    changes = []
    for change in CONFIGS_CHANGES:
        renamed = change.renamed_to
        changes.append(
            {
                "section": change.config.section,
                "option": change.config.option,
                "renamed_to": [renamed.section, renamed.option] if renamed else None,
                "was_removed": bool(change.was_removed) and not renamed,
                "default_change": bool(change.default_change),
                "old_default": change.old_default,
                "new_default": change.new_default,
                "suggestion": change.suggestion,
                "breaking": bool(getattr(change, "breaking", False)),
                "remove_if_equals": getattr(change, "remove_if_equals", None),
                "is_invalid_if": change.is_invalid_if,
            }
        )
    return changes


def _providers():
    """Installed providers with the oldest Airflow each declares support for."""
    from importlib.metadata import distributions

    from packaging.requirements import Requirement

    found = {}
    for dist in distributions():
        name = (dist.metadata["Name"] or "").lower().replace("_", "-")
        if not name.startswith("apache-airflow-providers-"):
            continue
        floors = [
            s.version
            for r in map(Requirement, dist.requires or [])
            if r.name.lower() == "apache-airflow" and not r.marker
            for s in r.specifier
            if s.operator in (">=", "==", "~=")
        ]
        found[name] = {"version": dist.version, "airflow_floor": floors[0] if floors else None}
    return found


def _installed():
    """Every distribution in the venv and its version (to spot a stale cached venv)."""
    from importlib.metadata import distributions

    return {
        (d.metadata["Name"] or "").lower().replace("_", "-"): d.version for d in distributions()
    }


def main():
    from airflow.configuration import conf

    # Providers' options are a bonus; core options are enough to lint.
    with contextlib.suppress(Exception):
        conf.load_providers_configuration()
    description = getattr(conf, "configuration_description", {}) or {}
    known = {section: sorted(body.get("options", {})) for section, body in description.items()}
    deprecated = [
        {"section": old[0], "option": old[1], "renamed_to": list(new), "since": old[2]}
        for new, old in conf.deprecated_options.items()
    ]
    from airflow import providers_manager

    min_providers = getattr(providers_manager, "MIN_PROVIDER_VERSIONS", {})
    result = {
        "changes": _changes(),
        "deprecated": deprecated,
        "known": known,
        "min_providers": min_providers,
        "providers": _providers(),
        "installed": _installed(),
    }
    sys.stdout.write("\n@@AIRSHIFT@@" + json.dumps(result, default=str))


if __name__ == "__main__":
    main()
