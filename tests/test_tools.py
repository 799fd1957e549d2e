"""The tools airshift runs are checked for the version a command needs (airshift/tools.py):
inside an Airflow environment its constraints may have installed an older one."""

from __future__ import annotations

import dataclasses

import pytest
from packaging.version import Version

from airshift import tools
from airshift.errors import AirshiftError


@pytest.mark.parametrize("tool", [tools.RUFF, tools.UV])
def test_the_installed_tools_are_new_enough(tool):
    found = tools.binary(tool)
    assert tools.version_of(found) >= Version(tool.minimum)


@pytest.mark.parametrize("tool", [tools.RUFF, tools.UV])
def test_an_older_tool_is_refused_in_one_paragraph(tool):
    binary = tools.binary(tool)
    have = tools.version_of(binary)
    newer = dataclasses.replace(tool, minimum=f"{have.major + 1000}.0")
    with pytest.raises(AirshiftError) as raised:
        tools.check(newer, binary)
    message = raised.value.message
    assert f"needs {tool.name} {newer.minimum} or newer" in message
    assert f"finds {tool.name} {have}" in message and "\n" not in message
    assert f"pip install '{tool.name}>={newer.minimum}'" in message
