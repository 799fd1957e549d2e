"""Guard every templated value that Airflow would load as a template file.

Why one mechanism: Airflow renders each string in an operator's ``template_fields``
(nested lists, tuples and dict values included), and a string that *ends* in one of the
operator's ``template_ext`` is taken for a file name: ``TemplateNotFound`` on every run.
A Data Pipeline value may end that way anywhere (a ``scriptUri`` in ``env``, a step
argument ``conf.json``, SQL ending in ``.sql``), so the guard is applied to every
templated value of every generated call, right before code generation, with the fields
and endings read from the real classes (``scripts/gen_dp_templated.py`` writes
``airshift/data/dp_templated.json``). The guard appends ``{{ '' }}``: Jinja renders it as
nothing, so the value stays exactly what it was, but it no longer ends in the extension.
"""

from __future__ import annotations

import json
from dataclasses import replace
from functools import cache
from importlib import resources
from typing import Any

from airshift.datapipeline.pycode import Call, Symbol
from airshift.errors import AirshiftError

GUARD = "{{ '' }}"


@cache
def _classes() -> dict[str, dict[str, list[str]]]:
    text = resources.files("airshift").joinpath("data/dp_templated.json").read_text()
    return json.loads(text)["classes"]


def rules(symbol: Symbol) -> tuple[frozenset[str], tuple[str, ...]]:
    """The templated fields of a class and the endings it loads as files."""
    entry = _classes().get(f"{symbol.module}.{symbol.name}")
    if entry is None:
        raise AirshiftError(
            f"internal error: {symbol.module}.{symbol.name} is not in dp_templated.json; "
            "run scripts/gen_dp_templated.py."
        )
    return frozenset(entry["template_fields"]), tuple(entry["template_ext"])


def guard_call(symbol: Symbol, kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` of a call to ``symbol`` with every file-like templated string guarded.

    Nested calls (notifiers in callbacks) are guarded by their own class's rules.
    """
    fields, endings = rules(symbol)
    return {key: _guard(value, endings if key in fields else None) for key, value in kwargs.items()}


def _guard(value: Any, endings: tuple[str, ...] | None) -> Any:
    """Walk a value the way Airflow's ``render_template`` does; ``None``: not templated."""
    if isinstance(value, str):
        return value + GUARD if endings and value.endswith(endings) else value
    if isinstance(value, list):
        return [_guard(v, endings) for v in value]
    if isinstance(value, tuple):
        return tuple(_guard(v, endings) for v in value)
    if isinstance(value, dict):
        return {k: _guard(v, endings) for k, v in value.items()}
    if isinstance(value, Call) and isinstance(value.func, Symbol) and _known(value.func):
        return replace(value, kwargs=guard_call(value.func, value.kwargs))
    if isinstance(value, Call):
        return replace(value, kwargs={k: _guard(v, None) for k, v in value.kwargs.items()})
    return value


def _known(symbol: Symbol) -> bool:
    return f"{symbol.module}.{symbol.name}" in _classes()
