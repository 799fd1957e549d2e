"""The move tables (``airshift/data/moves/*.json``): generated from the real runtimes, verified
inside the target, and right for the cases a loose table got wrong (NOTSET, context_merge)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airshift import airflow_env
from airshift.code.moves import Status, moves_for
from airshift.code.target import parse_target
from scripts import gen_moves

TABLES = sorted(gen_moves.OUT.glob("*.json"))
SIGNATURES = sorted(gen_moves.SIGNATURES.glob("*.json"))


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


@pytest.mark.parametrize("table", TABLES + SIGNATURES, ids=lambda t: f"{t.parent.name}/{t.stem}")
def test_tables_come_from_todays_runtimes(table: Path) -> None:
    """A table records the runtimes it was generated from; their names change with the
    resolution rule, the release-date cut-off, the providers and the Python. Regenerate
    (``python scripts/gen_moves.py``) when this fails."""
    assert json.loads(table.read_text())["runtimes"] == gen_moves.runtimes(table.stem)


@pytest.mark.slow
@pytest.mark.parametrize("table", TABLES, ids=[t.stem for t in TABLES])
def test_every_verified_move_holds_in_the_target_runtime(table: Path) -> None:
    """Inside the real target (the plain runtime the rest of the suite uses: core, Task SDK,
    standard provider): the new path imports, is the same kind and qualified name, and ``is``
    the very object the move was verified against (sentinels included). Moves into providers
    that runtime lacks are checked by the regeneration test below."""
    result = gen_moves.verify(airflow_env.ensure(table.stem), table)
    assert result["checked"] > 50
    assert result["problems"] == {}


@pytest.mark.slow
@pytest.mark.parametrize("table", TABLES, ids=[t.stem for t in TABLES])
def test_committed_tables_match_the_runtimes(table: Path) -> None:
    """Regenerated from the installed runtimes with providers, the tables are what is committed,
    and every verified move holds there too. The runtimes with all providers are large: this
    runs where they are installed (``python scripts/gen_moves.py`` installs them)."""
    if not gen_moves.installed(table.stem):
        pytest.skip("the runtimes with providers are not installed (python scripts/gen_moves.py)")
    text = gen_moves.build(table.stem)
    assert json.loads(table.read_text()) == json.loads(text)
    signatures = gen_moves.SIGNATURES / table.name
    built = gen_moves.build_signatures(table.stem, json.loads(text)["moves"])
    assert json.loads(signatures.read_text()) == json.loads(built)
    result = gen_moves.verify(gen_moves.runtime(table.stem), table)
    assert result["unchecked"] == 0 and result["problems"] == {}
