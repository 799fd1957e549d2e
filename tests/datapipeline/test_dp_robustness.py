"""Whatever a definition holds, the converter answers with a result or an AirshiftError.

Every field of the kitchen-sink definition is replaced in turn by awkward values; a
traceback of any other kind would reach the user as a crash instead of a message.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path

import pytest

from airshift.datapipeline import codegen
from airshift.datapipeline.loader import load_definition
from airshift.datapipeline.model import Pipeline
from airshift.datapipeline.plan import plan_pipeline
from airshift.datapipeline.translate import Notes
from airshift.errors import AirshiftError

BASE = json.loads((Path(__file__).parent / "definitions" / "everything.json").read_text())
AWKWARD = ["#{nope(}", {"ref": "Default"}, ["a", "b"], "-1"]


def test_no_field_value_can_crash_the_converter(tmp_path, monkeypatch):
    monkeypatch.setattr(codegen, "format_code", lambda code: code)  # ruff is not under test
    path = tmp_path / "pipe.json"
    crashes = []
    for index, obj in enumerate(BASE["objects"]):
        for key in [k for k in obj if k != "id"]:
            for value in AWKWARD:
                definition = copy.deepcopy(BASE)
                definition["objects"][index][key] = value
                path.write_text(json.dumps(definition))
                try:
                    pipeline = Pipeline(load_definition(path))
                    plans, _ = plan_pipeline(pipeline, "x", dt.datetime(2025, 1, 1), Notes())
                    for plan in plans:
                        codegen.generate(plan, "pipe.json", catchup=False)
                except AirshiftError:
                    pass
                except Exception as exc:  # anything else is a crash
                    crashes.append((obj["id"], key, value, repr(exc)))
    assert crashes == []


@pytest.mark.parametrize(
    "raw",
    [
        [],
        {"objects": {}},
        {"objects": [1]},
        {"objects": [{"id": "A"}], "parameters": {"a": 1}},
        {"objects": [{"id": "A"}], "values": [1]},
        {"pipelineObjects": [{"id": "A", "fields": [1]}]},
    ],
)
def test_malformed_structure_is_an_airshift_error(tmp_path, raw):
    path = tmp_path / "pipe.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(AirshiftError):
        Pipeline(load_definition(path))
