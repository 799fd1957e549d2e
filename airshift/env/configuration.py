"""``AirflowConfigurationOptions`` carried to the target version: renamed, dropped or refused.

Why not copy them: an option Airflow 3 renamed (``core.dag_concurrency``,
``webserver.base_url``) is silently ignored under its old name, one it removed does nothing,
and one with a value the target rejects stops it from starting. What changed comes from the
target Airflow itself, through ``airshift.code.config.assess`` (the same knowledge ``code
check`` uses for airflow.cfg); what MWAA sets itself comes from ``offer``. Messages never
contain option values: options can hold passwords.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from packaging.version import Version

from airshift.code.config import Option, assess, changed_defaults
from airshift.code.findings import Severity
from airshift.env import offer

# Renames that also change the unit (webserver.session_lifetime_days -> fab.session_lifetime_minutes)
# must convert the value, or 30 days become 30 minutes.
_UNIT_SECONDS = {"seconds": 1, "sec": 1, "minutes": 60, "hours": 3600, "days": 86400}
_UNIT = re.compile(r"_(seconds|sec|minutes|hours|days)$")
_MAX_HOPS = 5  # a renamed option may itself be deprecated in the target (api.page_size)


class Outcome(str, Enum):
    KEPT = "kept"
    RENAMED = "renamed"
    DROPPED = "dropped"
    REFUSED = "refused"
    ADDED = "added"


@dataclass(frozen=True)
class OptionOutcome:
    """What happened to one source option (``key``) on its way to the target."""

    key: str
    outcome: Outcome
    new_key: str | None = None
    message: str = ""


@dataclass
class TranslatedOptions:
    """The options for the target, what happened to each source option, and changed defaults."""

    options: dict[str, str] = field(default_factory=dict)
    outcomes: list[OptionOutcome] = field(default_factory=list)
    changed_defaults: list[str] = field(default_factory=list)

    @property
    def refused(self) -> list[OptionOutcome]:
        return [o for o in self.outcomes if o.outcome is Outcome.REFUSED]


def translate_options(
    options: Mapping[str, str], source_version: str, target_version: str, facts: dict
) -> TranslatedOptions:
    """Carry MWAA's dotted ``section.key`` options to ``target_version``.

    ``facts`` is what the target Airflow says about its configuration
    (``airshift.code.target_facts.load_target_facts``).
    """
    result = TranslatedOptions()
    originals = set(options)
    for key in sorted(options):
        outcome, new_key, value = _carry(key, options[key], target_version, facts)
        if outcome.outcome in (Outcome.KEPT, Outcome.RENAMED) and new_key:
            if new_key in result.options or (new_key != key and new_key in originals):
                outcome = OptionOutcome(
                    key,
                    Outcome.DROPPED,
                    new_key,
                    f"{key} becomes {new_key}, which another source option already sets; "
                    "that value is kept.",
                )
            else:
                result.options[new_key] = value
        result.outcomes.append(outcome)
    if Version(source_version).major < Version(target_version).major:
        # MWAA sets its managed options itself: their defaults never reach the environment.
        managed = offer.MWAA_MANAGED_OPTIONS[Version(target_version).major]
        set_here = {_split(k) for k in (*result.options, *managed)}
        result.changed_defaults = changed_defaults(set_here, facts, target_version)
    return result


def _carry(
    key: str, value: str, version: str, facts: dict
) -> tuple[OptionOutcome, str | None, str]:
    """Follow renames to the target's name; the outcome, the final key and the value."""
    current, messages = key, []
    for _ in range(_MAX_HOPS):
        section, name = _split(current)
        change = assess(
            Option(Path("AirflowConfigurationOptions"), 0, "dotted", section, name, value),
            facts,
            version,
        )
        if change is None:
            break
        if change.new:
            renamed = f"{change.new[0]}.{change.new[1]}"
            value, converted = _convert_unit(current, renamed, value)
            messages.append(change.message + (f" {converted}" if converted else ""))
            current = renamed
            continue
        if change.remove:
            return OptionOutcome(key, Outcome.DROPPED, None, change.message), None, value
        if change.severity is Severity.BREAKS:
            return OptionOutcome(key, Outcome.REFUSED, None, change.message), None, value
        messages.append(change.message)  # advice (an option the target does not know): kept
        break
    if offer.managed_option(current, version):
        reason = f"MWAA sets {current} itself on Airflow {version}; a value here has no effect."
        return OptionOutcome(key, Outcome.DROPPED, None, reason), None, value
    outcome = Outcome.RENAMED if current != key else Outcome.KEPT
    return OptionOutcome(key, outcome, current, " ".join(messages)), current, value


def _split(key: str) -> tuple[str, str]:
    """``common.io.xcom_objectstorage_path`` -> (``common.io``, ``xcom_objectstorage_path``)."""
    section, _, name = key.rpartition(".")
    return section, name


def _convert_unit(old: str, new: str, value: str) -> tuple[str, str]:
    """The value in the new option's unit, and a sentence saying so ('' when unchanged)."""
    old_unit, new_unit = _UNIT.search(old), _UNIT.search(new)
    if not (old_unit and new_unit) or old_unit[1] == new_unit[1]:
        return value, ""
    try:
        seconds = float(value) * _UNIT_SECONDS[old_unit[1]]
    except ValueError:
        return value, f"Its value is not a number; check it is in {new_unit[1]}."
    converted = seconds / _UNIT_SECONDS[new_unit[1]]
    text = str(int(converted)) if converted.is_integer() else str(converted)
    return text, f"Its value is converted from {old_unit[1]} to {new_unit[1]}."
