"""The move tables (``airshift/data/moves/*.json``): generated from the real runtimes, verified
inside the target, and right for the cases a loose table got wrong (NOTSET, context_merge)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airshift.code.moves import Status, moves_for
from airshift.code.target import parse_target
from scripts import gen_moves

TABLES = sorted(gen_moves.OUT.glob("*.json"))


def test_notset_moves_to_the_sentinel_not_the_class() -> None:
    """Airflow 3.3.2 resolves ``airflow.utils.types.NOTSET`` to the class ``ArgNotSet``."""
    move = moves_for(parse_target("3.3.2")).get("airflow.utils.types.NOTSET")
    assert move is not None and move.status is Status.CHANGED and move.kind == "instance"
    assert move.verified and move.new is not None and move.new.endswith(".NOTSET")
    assert "class" in move.old_now


def test_context_merge_moves_to_the_function_not_the_module() -> None:
    move = moves_for(parse_target("3.3.2")).get("airflow.utils.context.context_merge")
    assert move is not None and move.status is Status.CHANGED and move.kind == "function"
    assert move.verified and move.new == "airflow.sdk.definitions.context.context_merge"


def test_names_without_a_ruff_rule_have_verified_homes() -> None:
    table = moves_for(parse_target("3.3.2"))
    expected = {
        "airflow.utils.dates.datetime": "datetime.datetime",
        "airflow.utils.weekday.WeekDay": "airflow.providers.standard.utils.weekday.WeekDay",
        "airflow.operators.bash_operator.BashOperator": (
            "airflow.providers.standard.operators.bash.BashOperator"
        ),
    }
    for old, new in expected.items():
        move = table.get(old)
        assert move is not None and move.verified and move.new == new, (old, move)


def test_older_targets_use_the_table_of_their_major_version() -> None:
    assert moves_for(parse_target("2.8.4")).table == "2.10.5"
    assert moves_for(parse_target("3.3")).table == "3.3.2"


@pytest.mark.slow
@pytest.mark.parametrize("table", TABLES, ids=[t.stem for t in TABLES])
def test_every_verified_move_holds_in_the_target_runtime(table: Path) -> None:
    """Inside the real target: the new path imports, is the same kind and qualified name, and
    ``is`` the very object the move was verified against (sentinels included)."""
    result = gen_moves.verify(table.stem, table)
    assert result["checked"] > 100
    assert result["problems"] == {}


@pytest.mark.slow
@pytest.mark.parametrize("table", TABLES, ids=[t.stem for t in TABLES])
def test_committed_table_matches_the_runtimes(table: Path) -> None:
    """Regenerate with ``python scripts/gen_moves.py`` when this fails."""
    assert json.loads(table.read_text()) == json.loads(gen_moves.build(table.stem))
