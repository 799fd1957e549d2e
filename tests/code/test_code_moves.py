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


SENTINEL_CODE = """
from airflow.utils.types import NOTSET
from airflow.utils.context import context_merge


def run(value=NOTSET, **context):
    context_merge(context, extra=1)
    return value is NOTSET, context
"""
# What the code must still mean, asked of the runtime it runs in: the sentinel is the one
# Airflow's own ``Param(default=...)`` uses, ``x is NOTSET`` tells "not given" from a value,
# and ``context_merge`` merges into the context it is given.
SENTINEL_PROBE = """
import inspect, json
try:
    from airflow.sdk import Param
except ImportError:
    from airflow.models.param import Param
default = inspect.signature(Param.__init__).parameters["default"].default
print(json.dumps({
    "param_default_is_notset": default is NOTSET,
    "run()": run(a=0)[0],
    "run(None)": run(None)[0],
    "merged": run(a=0)[1],
}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("target", [t.stem for t in TABLES if not t.stem.startswith("2.")])
def test_notset_and_context_merge_mean_the_same_after_the_fix(target: str, tmp_path: Path) -> None:
    """The AS105 fix, run for real: the original code in Airflow 2.10.5 and the fixed code in
    the target behave the same (the unfixed code in the target does not: there ``NOTSET`` is
    the class, so ``run()`` says a value was given, and ``context_merge`` is a module)."""
    from airshift.code.rules import RuleContext, apply_fixes

    fixed = apply_fixes(SENTINEL_CODE, RuleContext(parse_target(target), "dag"))
    assert (
        fixed != SENTINEL_CODE
        and apply_fixes(fixed, RuleContext(parse_target(target), "dag")) == fixed
    )

    def behaviour(version: str, code: str) -> dict:
        script = tmp_path / f"probe_{version}.py"
        script.write_text(code + SENTINEL_PROBE)
        proc = airflow_env.ensure(version).run(["python", str(script)], home=tmp_path / version)
        return json.loads(proc.stdout.strip().splitlines()[-1])

    expected = {
        "param_default_is_notset": True,
        "run()": True,
        "run(None)": False,
        "merged": {"a": 0, "extra": 1},
    }
    assert behaviour("2.10.5", SENTINEL_CODE) == expected
    assert behaviour(target, fixed) == expected
    unfixed = airflow_env.ensure(target).run(
        ["python", "-c", SENTINEL_CODE + SENTINEL_PROBE], home=tmp_path / "unfixed", check=False
    )
    assert unfixed.returncode != 0 or json.loads(unfixed.stdout.splitlines()[-1]) != expected
