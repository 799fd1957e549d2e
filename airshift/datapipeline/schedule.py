"""Data Pipeline schedules as Airflow 3 timetables, with their true semantics.

Why explicit timetables: DP ``cron`` runs at the *start* of a period (Airflow's trigger
timetables) and ``timeseries`` at its *end* (the data-interval timetables). Airflow 3's
default for a bare cron string depends on configuration, so the class is always spelled
out, and ``@scheduledStartTime`` maps to ``logical_date`` or ``data_interval_start``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from airshift.datapipeline.model import Pipeline, PipelineObject
from airshift.datapipeline.pycode import Symbol
from airshift.datapipeline.translate import Notes, TimeBase, add_months
from airshift.errors import AirshiftError

_PERIOD = re.compile(r"^\s*(\d+)\s*(minute|hour|day|week|month|year)s?\s*$", re.IGNORECASE)
TIMEDELTA = Symbol("datetime").attr("timedelta")
RELATIVEDELTA = Symbol("dateutil.relativedelta", "relativedelta")


@dataclass(frozen=True)
class Period:
    count: int
    unit: str  # plural, lower case: "minutes" ... "years"

    def code(self) -> Any:
        """``datetime.timedelta`` where exact, ``relativedelta`` for months and years."""
        if self.unit in ("months", "years"):
            return RELATIVEDELTA(**{self.unit: self.count})
        return TIMEDELTA(**{self.unit: self.count})

    def add_to(self, expr: str) -> str:
        """Jinja: ``expr`` plus one period (pendulum clamps month ends as Joda does)."""
        return f"{expr}.add({self.unit}={self.count})"

    def text(self) -> str:
        return f"{self.count} {self.unit[:-1] if self.count == 1 else self.unit}"


def parse_period(text: str, where: str, minimum_minutes: int = 0) -> Period:
    match = _PERIOD.match(text)
    if not match:
        raise AirshiftError(
            f"{where}: invalid period {text!r}; expected 'N minutes|hours|days|weeks|months|years'."
        )
    period = Period(int(match.group(1)), match.group(2).lower() + "s")
    if period.count == 0 or (period.unit == "minutes" and period.count < minimum_minutes):
        raise AirshiftError(f"{where}: period {text!r} is shorter than {minimum_minutes} minutes.")
    return period


def period_delta(text: str, where: str, notes: Notes, object_id: str) -> dt.timedelta:
    """A duration field (``attemptTimeout``, ``retryDelay``...) as a fixed timedelta."""
    period = parse_period(text, where)
    if period.unit in ("months", "years"):
        days = period.count * (30 if period.unit == "months" else 365)
        notes.assume(object_id, f"{where}: {text!r} taken as {days} days.")
        return dt.timedelta(days=days)
    return dt.timedelta(**{period.unit: period.count})


def _parse_datetime(text: str, where: str) -> dt.datetime:
    try:
        return dt.datetime.strptime(text.strip(), "%Y-%m-%dT%H:%M:%S")
    except ValueError as exc:
        raise AirshiftError(f"{where}: {text!r} is not a YYYY-MM-DDTHH:MM:SS date-time.") from exc


@dataclass
class ScheduleSpec:
    """Everything the DAG constructor needs about when it runs."""

    key: str  # schedule object id + style; one DAG per key
    style: str  # "cron", "timeseries" or "ondemand"
    timetable: Any  # code for ``schedule=``
    start: dt.datetime | None
    end: dt.datetime | None
    time: TimeBase
    summary: str


def _cron_for(period: Period, start: dt.datetime) -> str | None:
    """A cron expression equal to "every period from start", or None if cron can't say it."""
    n, m, h, d = period.count, start.minute, start.hour, start.day
    if period.unit == "minutes" and 60 % n == 0:
        return f"{m % n}-59/{n} * * * *" if n > 1 else "* * * * *"
    if period.unit == "hours" and 24 % n == 0 and n > 0:
        return f"{m} {h % n}-23/{n} * * *" if n > 1 else f"{m} * * * *"
    if period.unit == "days" and n == 1:
        return f"{m} {h} * * *"
    if period.unit == "weeks" and n == 1:
        return f"{m} {h} * * {start.isoweekday() % 7}"
    if period.unit == "months" and d <= 28 and 12 % n == 0:
        return f"{m} {h} {d} * *" if n == 1 else f"{m} {h} {d} {start.month % n or n}-12/{n} *"
    if period.unit == "years" and n == 1 and d <= 28:
        return f"{m} {h} {d} {start.month} *"
    return None


def build_schedule(
    pipeline: Pipeline,
    schedule: PipelineObject | None,
    style: str,
    activation: dt.datetime,
    notes: Notes,
) -> ScheduleSpec:
    """Timetable, bounds and time expressions for one (schedule, scheduleType) pair."""
    if style == "ondemand" or schedule is None:
        if style != "ondemand":
            notes.assume("Default", "no schedule is set: the DAG only runs when triggered.")
        start_expr = "(dag_run.logical_date or dag_run.run_after)"
        return ScheduleSpec(
            "ondemand",
            "ondemand",
            None,
            None,  # a manual-only DAG needs no start date
            None,
            TimeBase(start_expr, start_expr),
            "on demand (manual trigger)",
        )
    where = f"object {schedule.id!r}"
    period_text = pipeline.string(schedule, "period")
    if period_text is None:
        raise AirshiftError(f"{where} field 'period' is required on a Schedule.")
    if period_text.strip().upper() == "ONDEMAND_PERIOD":
        return build_schedule(pipeline, None, "ondemand", activation, notes)
    period = parse_period(period_text, f"{where} field 'period'", minimum_minutes=15)
    start_text = pipeline.string(schedule, "startDateTime")
    start_at = (pipeline.string(schedule, "startAt") or "").strip().upper()
    if start_text and start_at:
        raise AirshiftError(f"{where}: set either 'startDateTime' or 'startAt', not both.")
    if start_text:
        start = _parse_datetime(start_text, f"{where} field 'startDateTime'")
        first_activation = False
    elif start_at == "FIRST_ACTIVATION_DATE_TIME":
        start, first_activation = activation, True
    else:
        raise AirshiftError(
            f"{where}: needs 'startDateTime' or 'startAt: FIRST_ACTIVATION_DATE_TIME'."
        )
    end_text = pipeline.string(schedule, "endDateTime")
    count = pipeline.integer(schedule, "occurrences")
    if end_text and count is not None:
        raise AirshiftError(f"{where}: set either 'endDateTime' or 'occurrences', not both.")
    if count == 1 and first_activation:
        notes.assume(
            schedule.id,
            f"runs once (occurrences 1 from first activation): schedule '@once' starting "
            f"{activation:%Y-%m-%d}.",
        )
        if style == "timeseries":
            notes.assume(
                schedule.id,
                "timeseries style: DP would run this once at the end of the first period; "
                "'@once' runs at the start (the scheduled times keep DP's values).",
            )
        return ScheduleSpec(
            f"{schedule.id}/{style}",
            style,
            "@once",
            start,
            None,
            TimeBase("logical_date", period.add_to("logical_date")),
            f"once, from first activation (period {period.text()})",
        )
    if first_activation:
        notes.assume(
            schedule.id,
            f"FIRST_ACTIVATION_DATE_TIME: start_date pinned to {activation:%Y-%m-%d %H:%M} UTC; "
            "pass --activation-date to choose it.",
        )
    end = None
    if end_text:
        end = _parse_datetime(end_text, f"{where} field 'endDateTime'")
    elif count:
        end = _advance(start, period, count - 1)
    cron = _cron_for(period, start)
    interval = "timeseries" if style == "timeseries" else "cron"
    if cron is not None:
        module = (
            "airflow.timetables.interval"
            if interval == "timeseries"
            else "airflow.timetables.trigger"
        )
        cls = "CronDataIntervalTimetable" if interval == "timeseries" else "CronTriggerTimetable"
        timetable: Any = Symbol(module, cls)(cron, timezone="UTC")
    else:
        module = (
            "airflow.timetables.interval"
            if interval == "timeseries"
            else "airflow.timetables.trigger"
        )
        cls = "DeltaDataIntervalTimetable" if interval == "timeseries" else "DeltaTriggerTimetable"
        timetable = Symbol(module, cls)(period.code())
        notes.assume(
            schedule.id,
            f"period {period.text()} is not expressible in cron: a delta timetable is used; "
            "with catchup off it anchors on the previous run, not on the start time of day.",
        )
    if style == "timeseries":
        time = TimeBase("data_interval_start", "data_interval_end")
    else:
        time = TimeBase("logical_date", period.add_to("logical_date"))
    bound = (
        f", {count} occurrence(s)" if count else (f", until {end:%Y-%m-%dT%H:%M:%S}" if end else "")
    )
    summary = f"every {period.text()} from {start:%Y-%m-%dT%H:%M:%S} ({style}{bound})"
    return ScheduleSpec(f"{schedule.id}/{style}", style, timetable, start, end, time, summary)


def _advance(start: dt.datetime, period: Period, times: int) -> dt.datetime:
    if period.unit in ("months", "years"):
        return add_months(start, period.count * times * (12 if period.unit == "years" else 1))
    return start + dt.timedelta(**{period.unit: period.count * times})
