"""Job requests are checked field by field before anything runs (agent/protocol.py)."""

from __future__ import annotations

import pytest

from airshift.agent.protocol import JobRequest, compatibility_problem
from airshift.archive import sealed
from airshift.errors import AirshiftError

ID = "0" * 32


def test_a_request_takes_only_known_options_of_the_right_type():
    job = JobRequest.from_body(
        {"id": ID, "kind": "import", "archive": "s3://b/a", "options": {"dry_run": True}}
    )
    assert job.options["dry_run"] is True and job.options["on_conflict"] == "skip"
    bad = [
        {"id": "x", "kind": "export", "archive": "s3://b/a"},
        {"id": ID, "kind": "drop", "archive": "s3://b/a"},
        {"id": ID, "kind": "export", "archive": ""},
        {"id": ID, "kind": "export", "archive": "a", "options": {"convert_pickled": True}},
        {"id": ID, "kind": "export", "archive": "a", "options": {"jobs": True}},
        {"id": ID, "kind": "import", "archive": "a", "options": {"on_conflict": "replace"}},
        {"id": ID, "kind": "export", "archive": "a", "options": {"dag_ids": [1]}},
    ]
    for body in bad:
        with pytest.raises(AirshiftError):
            JobRequest.from_body(body)


def test_an_export_never_receives_a_key_that_opens_its_secrets():
    private, public = sealed.new_key_pair()
    assert (
        JobRequest.from_body({"id": ID, "kind": "export", "archive": "a", "key": public}).key
        == public
    )
    with pytest.raises(AirshiftError, match="only the public key"):
        JobRequest.from_body({"id": ID, "kind": "export", "archive": "a", "key": private})


def test_the_key_is_never_stored_with_the_job():
    private, _ = sealed.new_key_pair()
    job = JobRequest(ID, "import", "s3://b/a", {}, key=private)
    assert "key" not in job.stored() and private not in repr(job)
    assert job.body()["key"] == private


def test_an_older_agent_is_told_apart_from_a_newer_one():
    assert compatibility_problem({"version": "0.1.0", "protocol": 1}) is None
    assert "older than this airshift" in compatibility_problem({"version": "0.0.9", "protocol": 1})
    assert "airshift[agent]==" in compatibility_problem({"version": "0.0.9", "protocol": 0})
    assert "upgrade airshift on this machine" in compatibility_problem(
        {"version": "9.0", "protocol": 2}
    )
