"""Reading definitions: both encodings, lenient JSON, values, and clear errors.

These run without Airflow: they check what the converter accepts, what it rejects and
that every rejection names the object and field at fault.
"""

from __future__ import annotations

import ast
import copy
import json
from pathlib import Path

import pytest
from dp_cases import api_objects, daily_pipeline, shell

from airshift.datapipeline import convert_file, convert_folder
from airshift.errors import AirshiftError

HERE = Path(__file__).parent
EVERYTHING = json.loads((HERE / "definitions" / "everything.json").read_text())


def _write(tmp_path: Path, definition: dict, name: str = "pipe.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(definition))
    return path


def _minimal(command: str = "echo hi", **work: object) -> dict:
    return daily_pipeline(shell("Work", command, **work))


def _to_api_form(definition: dict) -> dict:
    """Re-encode a file-form definition the way boto3/CloudFormation hold it."""
    parameters = [
        {
            "id": p["id"],
            "attributes": [{"key": k, "stringValue": v} for k, v in p.items() if k != "id"],
        }
        for p in definition["parameters"]
    ]
    values = [{"id": k, "stringValue": v} for k, v in definition["values"].items()]
    return {
        "pipelineObjects": api_objects(definition["objects"]),
        "parameterObjects": parameters,
        "parameterValues": values,
    }


def test_file_and_api_forms_give_the_same_dag(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    file_form = convert_file(_write(tmp_path / "a", EVERYTHING))
    api_form = convert_file(_write(tmp_path / "b", _to_api_form(EVERYTHING)))
    assert [d.code for d in api_form.dags] == [d.code for d in file_form.dags]


def test_sloppy_real_world_json_is_repaired_and_reported():
    result = convert_file(HERE / "samples" / "ondemand.json")
    assert any("trailing comma" in r for r in result.repairs)
    assert any("raw newlines" in r for r in result.repairs)
    assert "## Input repaired" in result.to_markdown()


def test_values_file_overrides_definition_values_and_defaults(tmp_path):
    definition = _minimal(command="echo #{myA} #{myB} #{myC}")
    definition["parameters"] = [
        {"id": "myA", "default": "default-a"},
        {"id": "myB", "default": "default-b"},
        {"id": "myC", "default": "default-c", "type": "Integer"},
    ]
    definition["values"] = {"myB": "values-b", "myC": "3"}
    values = tmp_path / "values.json"
    values.write_text(json.dumps({"values": {"myC": "7"}}))
    plan = convert_file(_write(tmp_path, definition), values=values).dags[0].plan
    assert {p.id: p.default for p in plan.params} == {
        "myA": "default-a",
        "myB": "values-b",
        "myC": 7,
    }


def test_secret_parameter_values_never_reach_the_output(tmp_path):
    definition = _minimal(command="login #{*myToken} #{myDbPassword}")
    definition["parameters"] = [{"id": "*myToken"}, {"id": "myDbPassword"}]
    definition["values"] = {"*myToken": "tok-SECRET-1", "myDbPassword": "pw-SECRET-2"}
    result = convert_file(_write(tmp_path, definition))
    everything = result.dags[0].code + result.to_markdown() + json.dumps(result.to_json())
    assert "SECRET" not in everything
    assert "var.value.get('myToken')" in result.dags[0].code
    assert result.dags[0].plan.secrets == ["myToken", "myDbPassword"]


def test_catchup_flag_replays_like_data_pipeline(tmp_path):
    path = _write(tmp_path, _minimal())
    for catchup in (False, True):
        tree = ast.parse(convert_file(path, catchup=catchup).dags[0].code)
        keywords = {
            k.arg: k.value for n in ast.walk(tree) if isinstance(n, ast.Call) for k in n.keywords
        }
        assert keywords["catchup"].value is catchup


def test_mixed_schedules_become_one_dag_per_schedule():
    result = convert_file(HERE / "definitions" / "mixed_schedules.json")
    dags = {d.dag_id: [t.task_id for t in d.plan.tasks] for d in result.dags}
    assert dags == {
        "mixed_schedules__Daily_cron": ["DailyReport", "AfterPoll"],
        "mixed_schedules__Hourly_cron": ["HourlyPoll"],
    }
    # DP defines no instance matching across schedules: named, with the other DAG, not guessed
    [todo] = [m for o, m in result.todos if o == "AfterPoll"]
    assert "'HourlyPoll'" in todo and "'mixed_schedules__Hourly_cron'" in todo
    assert "ExternalTaskSensor" in todo


def test_folder_batch_converts_what_it_can_and_names_what_it_cannot():
    results, failures, skipped = convert_folder(HERE / "samples")
    converted = {r.source for r in results}
    assert "helloworld.json" in converted and "definition.json" in converted  # oracle + siblings
    assert [(p.name, m) for p, m in failures] == [
        (
            "kinesis-to-s3.json",
            "object 'DefaultSchedule' field 'period': invalid period '15 Period'; "
            "expected 'N minutes|hours|days|weeks|months|years'.",
        )
    ]
    assert {p.name for p in skipped} == {"parameters.json", "values.json"}


def _objects(definition: dict) -> dict:
    return {o["id"]: o for o in definition["objects"]}


ERRORS = {
    "dangling ref": (
        lambda d: _objects(d)["Work"].update(dependsOn={"ref": "Ghost"}),
        "object 'Work' field 'dependsOn' refers to 'Ghost', which is not defined",
    ),
    "parent cycle": (
        lambda d: (
            _objects(d)["Work"].update(parent={"ref": "Bag"}),
            d["objects"].append({"id": "Bag", "parent": {"ref": "Work"}}),
        ),
        "field 'parent' forms a cycle",
    ),
    "dependsOn cycle": (
        lambda d: (
            _objects(d)["Work"].update(dependsOn={"ref": "Other"}),
            d["objects"].append(shell("Other", "x", dependsOn={"ref": "Work"})),
        ),
        "dependencies form a cycle between objects 'Other', 'Work'",
    ),
    "data-node cycle": (
        lambda d: (
            _objects(d)["Work"].update(input={"ref": "X"}, output={"ref": "Y"}),
            d["objects"].extend(
                [
                    {"id": "X", "type": "S3DataNode", "filePath": "s3://b/x"},
                    {"id": "Y", "type": "S3DataNode", "filePath": "s3://b/y"},
                    shell("Back", "x", input={"ref": "Y"}, output={"ref": "X"}),
                ]
            ),
        ),
        "dependencies form a cycle between objects 'Back', 'Work'",
    ),
    "unknown type": (
        lambda d: _objects(d)["Work"].update(type="TeleportActivity"),
        "object 'Work' field 'type': unknown object type 'TeleportActivity'",
    ),
    "invalid period": (
        lambda d: _objects(d)["Daily"].update(period="15 Period"),
        "object 'Daily' field 'period': invalid period '15 Period'",
    ),
    "period too short": (
        lambda d: _objects(d)["Daily"].update(period="5 minutes"),
        "object 'Daily' field 'period': period '5 minutes' is shorter than 15 minutes",
    ),
    "start twice": (
        lambda d: _objects(d)["Daily"].update(startAt="FIRST_ACTIVATION_DATE_TIME"),
        "object 'Daily': set either 'startDateTime' or 'startAt', not both",
    ),
    "bad schedule type": (
        lambda d: _objects(d)["Default"].update(scheduleType="weekly"),
        "field 'scheduleType': 'weekly' is not cron, timeseries or ondemand",
    ),
    "bad expression": (
        lambda d: _objects(d)["Work"].update(command="echo #{format(@scheduledStartTime,}"),
        "object 'Work' field 'command': invalid expression",
    ),
    "unknown function": (
        lambda d: _objects(d)["Work"].update(command="echo #{teleport(1)}"),
        "object 'Work' field 'command': unknown function teleport()",
    ),
    "unknown reference": (
        lambda d: _objects(d)["Work"].update(command="echo #{missing}"),
        "object 'Work' field 'command': #{missing} is neither a field of object 'Work' nor a declared parameter",
    ),
    "bad retries": (
        lambda d: _objects(d)["Work"].update(maximumRetries="lots"),
        "object 'Work' field 'maximumRetries': 'lots' is not a whole number",
    ),
    "huge power": (
        lambda d: _objects(d)["Work"].update(command="echo #{9 ^ 99999999}"),
        "object 'Work' field 'command': exponent 99999999 is too large to evaluate",
    ),
    "impossible date": (
        lambda d: _objects(d)["Work"].update(command="echo #{makeDate(2025,13,1)}"),
        "object 'Work' field 'command': makeDate() cannot be evaluated: month must be in 1..12",
    ),
    "bad max instances": (
        lambda d: _objects(d)["Default"].update(maxActiveInstances="many"),
        "object 'Default' field 'maxActiveInstances': 'many' is not a whole number",
    ),
    "bad field value": (
        lambda d: _objects(d)["Work"].update(command={"shell": "echo"}),
        "object 'Work' field 'command': expected a string or {\"ref\": \"<id>\"}",
    ),
    "duplicate id": (
        lambda d: d["objects"].append(shell("Work", "x")),
        "object 'Work' is defined twice",
    ),
    "missing command": (
        lambda d: _objects(d)["Work"].pop("command"),
        "object 'Work': set exactly one of 'command' or 'scriptUri'",
    ),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_real_mistakes_are_reported_with_object_and_field(tmp_path, case):
    mutate, message = ERRORS[case]
    definition = copy.deepcopy(_minimal())
    mutate(definition)
    with pytest.raises(AirshiftError) as excinfo:
        convert_file(_write(tmp_path, definition))
    assert message in excinfo.value.message


def test_undeclared_my_parameter_becomes_a_param_without_value_and_a_todo(tmp_path):
    result = convert_file(_write(tmp_path, _minimal(command="run #{myScript}")))
    [param] = result.dags[0].plan.params
    assert (param.id, param.default, param.schema["type"]) == ("myScript", None, ["string", "null"])
    assert (
        "myScript",
        "parameter 'myScript' is used but not declared; it became a string param without a value.",
    ) in result.todos


def test_invalid_json_names_line_and_column(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"objects": [\n  {"id": "A" "type": "X"}\n]}')
    with pytest.raises(AirshiftError, match=r"broken.json: not valid JSON at line 2, column 14"):
        convert_file(path)


def test_parameters_in_non_templated_fields_are_substituted_at_conversion(tmp_path):
    definition = _minimal(maximumRetries="#{myRetries}", retryDelay="#{myDelay}")
    _objects(definition)["Daily"]["period"] = "#{myPeriod}"
    definition["objects"].append(
        {
            "id": "Db",
            "type": "JdbcDatabase",
            "connectionString": "jdbc:postgresql://#{myHost}:5432/app",
            "username": "#{myUser}",
            "*password": "#{*myPass}",
        }
    )
    work = _objects(definition)["Work"]
    del work["command"]
    work.update(type="SqlActivity", database={"ref": "Db"}, script="select 1")
    definition["parameters"] = [
        {"id": "myRetries", "type": "Integer", "default": "3"},
        {"id": "myDelay", "default": "5 minutes"},
        {"id": "myPeriod", "default": "2 days"},
        {"id": "myHost", "default": "db.internal"},
        {"id": "myUser", "default": "app"},
        {"id": "*myPass"},
    ]
    definition["values"] = {"myRetries": "4", "*myPass": "never-printed"}
    result = convert_file(_write(tmp_path, definition))
    [task] = result.dags[0].plan.tasks
    assert task.kwargs["retries"] == 4
    assert "DeltaTriggerTimetable" in result.dags[0].code  # a 2-day period
    [conn] = result.to_json()["connections"]
    assert (conn["conn_type"], conn["fields"]["host"], conn["fields"]["login"]) == (
        "postgres",
        "db.internal",
        "app",
    )
    assert "never-printed" not in json.dumps(result.to_json()) + result.dags[0].code


def test_cloudformation_template_is_read_like_the_api_form(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    api = _to_api_form(EVERYTHING)
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {
            "Bucket": {"Type": "AWS::S3::Bucket"},
            "Pipe": {
                "Type": "AWS::DataPipeline::Pipeline",
                "Properties": {
                    "Name": "everything",
                    "PipelineObjects": [
                        {
                            "Id": o["id"],
                            "Name": o["name"],
                            "Fields": [
                                {
                                    ("RefValue" if "refValue" in f else "StringValue"): v,
                                    "Key": f["key"],
                                }
                                for f in o["fields"]
                                for v in [f.get("refValue", f.get("stringValue"))]
                            ],
                        }
                        for o in api["pipelineObjects"]
                    ],
                    "ParameterObjects": api["parameterObjects"],
                    "ParameterValues": api["parameterValues"],
                },
            },
        },
    }
    from_cfn = convert_file(_write(tmp_path / "a", template))
    from_file = convert_file(_write(tmp_path / "b", EVERYTHING))
    assert [d.code for d in from_cfn.dags] == [d.code for d in from_file.dags]


def test_fields_resolve_own_then_parent_chain_then_default(tmp_path):
    definition = _minimal()
    objects = _objects(definition)
    objects["Default"].update(maximumRetries="1", retryDelay="20 minutes", attemptTimeout="3 hours")
    definition["objects"] += [
        {"id": "Outer", "retryDelay": "7 minutes", "attemptTimeout": "2 hours"},
        {"id": "Inner", "parent": {"ref": "Outer"}, "attemptTimeout": "1 hour"},
    ]
    objects["Work"].update(parent={"ref": "Inner"}, maximumRetries="5")
    [task] = convert_file(_write(tmp_path, definition)).dags[0].plan.tasks
    assert task.kwargs["retries"] == 5  # own
    assert task.kwargs["execution_timeout"].kwargs == {"seconds": 3600}  # nearest parent
    assert task.kwargs["retry_delay"].kwargs == {"seconds": 420}  # the parent's parent
    # and Default reaches the end of the chain: onFail set only there
    objects["Default"]["onFail"] = {"ref": "Alarm"}
    definition["objects"].append(
        {"id": "Alarm", "type": "SnsAlarm", "topicArn": "arn:t", "subject": "s", "message": "m"}
    )
    [task] = convert_file(_write(tmp_path, definition)).dags[0].plan.tasks
    assert len(task.kwargs["on_failure_callback"]) == 1


def test_array_parameter_expands_into_several_values(tmp_path):
    definition = _minimal(scriptArgument="#{myFiles}", command="echo $@ #{myFiles}")
    definition["parameters"] = [
        {"id": "myFiles", "isArray": "true", "default": ["a.csv", "b c.csv"]}
    ]
    result = convert_file(_write(tmp_path, definition))
    [task] = result.dags[0].plan.tasks
    assert task.kwargs["env"] == {"DP_ARG_1": "a.csv", "DP_ARG_2": "b c.csv"}
    assert any("expanded at conversion time" in m for _, m in result.assumptions)
    assert any("array parameter inside text" in m for _, m in result.todos)


@pytest.mark.parametrize("folder", ["s3://b/out/", "s3://b/out"])
def test_a_file_in_a_folder_gets_one_slash_whatever_the_folder_renders_to(folder):
    """A folder that ends in a run-time value may render with or without a trailing '/'."""
    import jinja2

    from airshift.datapipeline.builder import in_folder
    from airshift.datapipeline.jinja import Jinja, Template

    static = in_folder(Template.text(folder), "a.csv").render()
    dynamic = in_folder(Template([Jinja("params.folder")]), "a.csv").render()
    rendered = jinja2.Environment().from_string(dynamic).render(params={"folder": folder})
    assert static == rendered == "s3://b/out/a.csv"
