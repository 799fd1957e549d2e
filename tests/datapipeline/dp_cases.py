"""Definitions built in code for the schedule and expression matrices.

Each case is a small pipeline whose meaning is obvious from its fields, so the tests can
state what Airflow must do (timetable, bounds, rendered values) independently of how the
converter writes it.
"""

from __future__ import annotations

from typing import Any

ACTIVATION = "2025-01-01"


def shell(object_id: str, command: str, **fields: Any) -> dict[str, Any]:
    """A ShellCommandActivity object running ``command``."""
    return {"id": object_id, "type": "ShellCommandActivity", "command": command, **fields}


def daily_pipeline(
    *objects: dict[str, Any], start: str = "2025-01-01T00:00:00", **definition: Any
) -> dict:
    """A definition whose activities run once a day from ``start`` (its Default object and
    schedule), with ``objects`` after them and ``definition``'s other keys (``parameters``)."""
    return {
        "objects": [
            {"id": "Default", "scheduleType": "cron", "schedule": {"ref": "Daily"}},
            {"id": "Daily", "type": "Schedule", "period": "1 day", "startDateTime": start},
            *objects,
        ],
        **definition,
    }


def api_objects(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """File-form pipeline objects as the API holds them (``put_pipeline_definition``,
    boto3, CloudFormation): ``id``, ``name`` and a list of key/stringValue|refValue fields."""
    encoded = []
    for obj in objects:
        fields = []
        for key, value in obj.items():
            if key in ("id", "name"):
                continue
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, dict):
                    fields.append({"key": key, "refValue": item["ref"]})
                else:
                    fields.append({"key": key, "stringValue": str(item)})
        encoded.append({"id": obj["id"], "name": obj.get("name", obj["id"]), "fields": fields})
    return encoded


def shell_pipeline(
    schedule: dict[str, Any] | None, style: str, command: str, **default: str
) -> dict:
    objects: list[dict[str, Any]] = [{"id": "Default", "scheduleType": style, **default}]
    if schedule is not None:
        objects[0]["schedule"] = {"ref": "TheSchedule"}
        objects.append({"id": "TheSchedule", "type": "Schedule", **schedule})
    objects.append(shell("Work", command))
    return {"objects": objects}


TIMES = "#{format(@scheduledStartTime,'YYYY-MM-dd HH:mm')}|#{format(@scheduledEndTime,'YYYY-MM-dd HH:mm')}"

# name -> (definition, request logical date, expected)
SCHEDULES: dict[str, tuple[dict, str, dict[str, Any]]] = {
    "sch_cron_daily": (
        shell_pipeline({"period": "1 day", "startDateTime": "2025-01-01T06:30:00"}, "cron", TIMES),
        "2025-03-04T06:30:00+00:00",
        {
            "timetable": "CronTriggerTimetable",
            "expression": "30 6 * * *",
            "start_date": "2025-01-01T06:30:00+00:00",
            "end_date": None,
            "times": "2025-03-04 06:30|2025-03-05 06:30",
        },
    ),
    "sch_timeseries_2h": (
        shell_pipeline(
            {"period": "2 hours", "startDateTime": "2025-01-01T01:30:00"}, "timeseries", TIMES
        ),
        "2025-03-04T01:30:00+00:00",
        {
            "timetable": "CronDataIntervalTimetable",
            "expression": "30 1-23/2 * * *",
            "start_date": "2025-01-01T01:30:00+00:00",
            "end_date": None,
            "times": "2025-03-04 01:30|2025-03-04 03:30",
        },
    ),
    "sch_cron_3days": (
        shell_pipeline({"period": "3 days", "startDateTime": "2025-01-01T00:00:00"}, "cron", TIMES),
        "2025-03-04T00:00:00+00:00",
        {
            "timetable": "DeltaTriggerTimetable",
            "delta": 259200.0,
            "start_date": "2025-01-01T00:00:00+00:00",
            "end_date": None,
        },
    ),
    "sch_timeseries_3days": (
        shell_pipeline(
            {"period": "3 days", "startDateTime": "2025-01-01T00:00:00"}, "timeseries", TIMES
        ),
        "2025-01-04T00:00:00+00:00",
        {
            "timetable": "DeltaDataIntervalTimetable",
            "delta": 259200.0,
            "start_date": "2025-01-01T00:00:00+00:00",
            "end_date": None,
            "times": "2025-01-04 00:00|2025-01-07 00:00",
        },
    ),
    "sch_cron_monthly": (
        shell_pipeline(
            {"period": "1 month", "startDateTime": "2025-01-15T00:00:00"}, "cron", TIMES
        ),
        "2025-03-15T00:00:00+00:00",
        {
            "timetable": "CronTriggerTimetable",
            "expression": "0 0 15 * *",
            "start_date": "2025-01-15T00:00:00+00:00",
            "end_date": None,
            "times": "2025-03-15 00:00|2025-04-15 00:00",
        },
    ),
    "sch_cron_5months": (
        shell_pipeline(
            {"period": "5 months", "startDateTime": "2025-01-31T00:00:00"}, "cron", TIMES
        ),
        "2025-01-31T00:00:00+00:00",
        {
            "timetable": "DeltaTriggerTimetable",
            "delta": "relativedelta(months=+5)",
            "start_date": "2025-01-31T00:00:00+00:00",
            "end_date": None,
            "times": "2025-01-31 00:00|2025-06-30 00:00",
        },
    ),
    "sch_cron_weekly": (
        shell_pipeline({"period": "1 week", "startDateTime": "2025-01-01T08:00:00"}, "cron", TIMES),
        "2025-01-08T08:00:00+00:00",
        {
            "timetable": "CronTriggerTimetable",
            "expression": "0 8 * * 3",
            "start_date": "2025-01-01T08:00:00+00:00",
            "end_date": None,
        },
    ),
    "sch_cron_15min": (
        shell_pipeline(
            {"period": "15 minutes", "startDateTime": "2025-01-01T00:05:00"}, "cron", TIMES
        ),
        "2025-01-01T10:20:00+00:00",
        {
            "timetable": "CronTriggerTimetable",
            "expression": "5-59/15 * * * *",
            "start_date": "2025-01-01T00:05:00+00:00",
            "end_date": None,
            "times": "2025-01-01 10:20|2025-01-01 10:35",
        },
    ),
    "sch_cron_yearly": (
        shell_pipeline({"period": "1 year", "startDateTime": "2025-03-10T08:00:00"}, "cron", TIMES),
        "2026-03-10T08:00:00+00:00",
        {
            "timetable": "CronTriggerTimetable",
            "expression": "0 8 10 3 *",
            "start_date": "2025-03-10T08:00:00+00:00",
            "end_date": None,
        },
    ),
    "sch_occurrences": (
        shell_pipeline(
            {"period": "1 day", "startDateTime": "2025-01-01T00:00:00", "occurrences": "5"},
            "cron",
            TIMES,
        ),
        "2025-01-02T00:00:00+00:00",
        {
            "timetable": "CronTriggerTimetable",
            "expression": "0 0 * * *",
            "start_date": "2025-01-01T00:00:00+00:00",
            "end_date": "2025-01-05T00:00:00+00:00",
        },
    ),
    "sch_end_date": (
        shell_pipeline(
            {
                "period": "1 hour",
                "startDateTime": "2025-01-01T00:00:00",
                "endDateTime": "2025-01-02T00:00:00",
            },
            "timeseries",
            TIMES,
        ),
        "2025-01-01T05:00:00+00:00",
        {
            "timetable": "CronDataIntervalTimetable",
            "expression": "0 * * * *",
            "start_date": "2025-01-01T00:00:00+00:00",
            "end_date": "2025-01-02T00:00:00+00:00",
            "times": "2025-01-01 05:00|2025-01-01 06:00",
        },
    ),
    "sch_ondemand": (
        shell_pipeline(None, "ondemand", TIMES, maxActiveInstances="4"),
        "2025-05-06T07:08:00+00:00",
        {
            "timetable": "NullTimetable",
            "start_date": None,
            "max_active_runs": 4,
            "times": "2025-05-06 07:08|2025-05-06 07:08",
        },
    ),
    "sch_ondemand_period": (
        shell_pipeline(
            {"period": "ONDEMAND_PERIOD", "startAt": "ONDEMAND_ACTIVATION_TIME"}, "ondemand", TIMES
        ),
        "2025-05-06T07:08:00+00:00",
        {"timetable": "NullTimetable", "max_active_runs": 1},
    ),
    "sch_first_activation_once": (
        shell_pipeline(
            {"period": "1 day", "startAt": "FIRST_ACTIVATION_DATE_TIME", "occurrences": "1"},
            "cron",
            TIMES,
        ),
        "2025-01-01T00:00:00+00:00",
        {
            "timetable": "OnceTimetable",
            "start_date": "2025-01-01T00:00:00+00:00",
            "times": "2025-01-01 00:00|2025-01-02 00:00",
        },
    ),
    "sch_first_activation_daily": (
        shell_pipeline({"period": "1 day", "startAt": "FIRST_ACTIVATION_DATE_TIME"}, "CRON", TIMES),
        "2025-02-01T00:00:00+00:00",
        {
            "timetable": "CronTriggerTimetable",
            "expression": "0 0 * * *",
            "start_date": "2025-01-01T00:00:00+00:00",
        },
    ),
}

EXPRESSIONS = [
    ("#{@scheduledStartTime}", "2025-03-04T06:30:00"),
    ("#{format(@scheduledStartTime,'YYYY-MM-dd hh:mm a')}", "2025-03-04 06:30 AM"),
    ("#{format(plusHours(@scheduledStartTime,8),'hh')}", "02"),
    ("#{format(minusMonths(makeDate(2025,3,31),1),'YYYY-MM-dd')}", "2025-02-28"),
    ("#{format(plusMonths(@scheduledStartTime,myCount),'YYYY-MM-dd')}", "2026-12-04"),
    ("#{format(firstOfMonth(@scheduledStartTime),'YYYY-MM-dd HH:mm')}", "2025-03-01 06:30"),
    ("#{format(midnight(@scheduledStartTime),'HH:mm')}", "00:00"),
    ("#{format(sunday(@scheduledStartTime),'YYYY-MM-dd')}", "2025-03-02"),
    ("#{format(yesterday(@scheduledStartTime),'dd')}", "03"),
    ("#{day(@scheduledStartTime) + 1}", "5"),
    ("#{dayOfYear(@scheduledStartTime)}", "63"),
    ("#{@scheduledStartTime.format('YYYY')}", "2025"),
    ("#{1 + 2 * 3}", "7"),
    ("#{7 / 2}", "3"),
    ("#{'a' + 'b'}", "ab"),
    ("#{myCount * 2}", "42"),
    (
        "#{format(minusMinutes(@scheduledStartTime,30),'YYYY-MM-dd HH:mm:ss')}",
        "2025-03-04 06:00:00",
    ),
    ("#{format(@scheduledStartTime,'EEE, MMM dd \\'\\'yy')}", "Tue, Mar 04 '25"),
    ("#{format(@scheduledStartTime,'YYYY-MM-dd\\'T\\'HH')}", "2025-03-04T06"),
    ("#{makeDateTime(2024,2,29,10,5)}", "2024-02-29T10:05:00"),
    ("#{format(@scheduledEndTime,'YYYY-MM-dd')} #{myLabel}", "2025-03-05 as-is {{ not jinja }}"),
    ("#{input.directoryPath}", "s3://in/2025/03/04/"),
    ("100% ${INPUT1_STAGING_DIR} $1 ${input1}", "100% ${INPUT1_STAGING_DIR} $1 ${input1}"),
    ("#{@id}", "Work_scheduled__probe"),  # an instance id: object id + run id
    ("#{format(@actualStartTime,'YYYY')}", "2025"),
    ("#{name} #{input.name} #{input.@id}", "Work In In"),  # static references
]


def expressions_pipeline() -> dict:
    command = "\n".join(expression for expression, _ in EXPRESSIONS)
    return daily_pipeline(
        {
            "id": "In",
            "type": "S3DataNode",
            "directoryPath": "s3://in/#{format(@scheduledStartTime,'YYYY/MM/dd')}/",
        },
        {
            "id": "Work",
            "type": "ShellCommandActivity",
            "input": {"ref": "In"},
            "command": command,
            "precondition": {"ref": "Ready"},
        },
        {
            "id": "Ready",
            "type": "S3KeyExists",
            "s3Key": "#{node.input.directoryPath}_SUCCESS",
            "preconditionTimeout": "1 hour",
        },
        start="2025-01-01T06:30:00",
        parameters=[
            {"id": "myCount", "type": "Integer", "default": "21"},
            {"id": "myLabel", "type": "String", "default": "as-is {{ not jinja }}"},
        ],
    )


SHELL_COMMAND = (
    'tr a-z A-Z < "${INPUT1_STAGING_DIR}/in.txt" > "${OUTPUT1_STAGING_DIR}/out.txt"\n'
    "echo \"args: $1|$2|#{format(@scheduledStartTime,'YYYY-MM-dd')}\"\n"
    "echo oops >&2"
)


def staging_pipeline() -> dict:
    """A staged shell activity with awkward arguments and captured streams."""
    return daily_pipeline(
        {"id": "In", "type": "S3DataNode", "directoryPath": "s3://bucket/in/"},
        {
            "id": "Out",
            "type": "S3DataNode",
            "directoryPath": "s3://bucket/out/#{format(@scheduledStartTime,'YYYY-MM-dd')}/",
        },
        {
            "id": "Shout",
            "type": "ShellCommandActivity",
            "stage": "true",
            "input": {"ref": "In"},
            "output": {"ref": "Out"},
            "scriptArgument": ["two words", "$HOME'\"`x`"],
            "stdout": "s3://bucket/logs/out.txt",
            "stderr": "s3://bucket/logs/err.txt",
            "command": SHELL_COMMAND,
        },
        {"id": "Out2", "type": "S3DataNode", "directoryPath": "s3://bucket/out2/"},
        {
            "id": "Fail",
            "type": "ShellCommandActivity",
            "stage": "true",
            "input": {"ref": "In"},
            "output": {"ref": "Out2"},
            "stdout": "s3://bucket/logs/fail.txt",
            "command": 'echo partial > "${OUTPUT1_STAGING_DIR}/x"\necho before\nexit 3',
        },
    )
