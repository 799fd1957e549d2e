"""The table registry classifies every table of every schema head airshift knows.

Why: a table airshift does not know is reported, never silently dropped, but an Airflow
release that adds one should be decided on (merged, or left out with a stated reason)
before airshift claims to support it. ``data/revisions.json`` lists each head's tables as
the real packages' own migrations make them (``scripts/gen_revisions.py``); adding the
next release there makes these tests fail until its new tables are classified, the way
Airflow's own ``test_no_models_missing`` holds ``db_cleanup`` to its models.
"""

from __future__ import annotations

import json
from dataclasses import replace
from importlib import resources

from airshift.metadata import registry
from airshift.metadata.registry import MERGE_ORDER, TABLES, TableSpec, import_skip_reason


def _revisions() -> dict:
    return json.loads(resources.files("airshift").joinpath("data/revisions.json").read_text())


def test_every_known_schema_head_lists_its_tables() -> None:
    data = _revisions()
    missing = sorted(set(data["heads"].values()) - set(data["tables"]))
    assert not missing, f"run scripts/gen_revisions.py for the heads {missing}"


def test_every_table_of_every_known_head_is_classified() -> None:
    unclassified: dict[str, list[str]] = {}
    for head, tables in _revisions()["tables"].items():
        for name in tables:
            spec = TABLES.get(name)
            if not (spec and (spec.merged or spec.not_exported)) and not import_skip_reason(name):
                unclassified.setdefault(name, []).append(head)
    assert not unclassified, (
        "tables neither merged nor left out with a reason in airshift/metadata/registry.py: "
        f"{unclassified}"
    )


def test_every_record_is_a_real_table_and_says_what_happens_to_it() -> None:
    known = {t for tables in _revisions()["tables"].values() for t in tables}
    assert set(TABLES) <= known, sorted(set(TABLES) - known)
    for spec in TABLES.values():
        assert spec.merged or spec.not_imported or spec.not_exported, spec.name


def test_shapes_of_one_table_share_every_other_fact() -> None:
    def facts(spec: TableSpec) -> TableSpec:
        return replace(spec, key=(), pk=None, generated=False, refs={}, parent=None, unique=())

    for spec in MERGE_ORDER:
        assert facts(spec) == facts(TABLES[spec.name]), spec.name


def test_the_dataset_twin_keeps_every_fact_but_the_names() -> None:
    spec = TableSpec(
        "asset_thing",
        ("asset_id", "at"),
        pk="id",
        generated=True,
        refs={"asset_id": "asset"},
        key_unique=False,
        counted_only="because",
    )
    twin, same = registry._with_dataset_twin(spec)
    assert same is spec
    assert twin == replace(
        spec, name="dataset_thing", key=("dataset_id", "at"), refs={"dataset_id": "dataset"}
    )


def test_secret_tables_are_named_by_one_column() -> None:
    assert [s.name for s in registry.SECRET_TABLES] == ["variable", "connection"]
    assert [s.named_by for s in registry.SECRET_TABLES] == ["key", "conn_id"]
