"""The command-line tools airshift runs (ruff, uv): found, and checked for the version used.

Why a check here rather than a higher lower bound in ``pyproject.toml``: airshift is also
installed *inside* Airflow environments (the agent), whose constraint files pin these tools
to old releases (Airflow's constraints pin ruff 0.1.11 in MWAA 2.8.1, ruff 0.5.5 and uv
0.4.1 in 2.10.x, uv 0.8.13 in 3.0.6). The agent never runs either tool, so airshift accepts
those versions (its lower bounds are the oldest an MWAA image pins) and the commands that
do run them (``code check``/``upgrade``, ``datapipeline convert``, ``runtimes``, ``agent
bundle``) check the version they need first and say how to get it, instead of failing
half-way on an option the old tool does not know.
"""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache

from packaging.version import InvalidVersion, Version

from airshift.errors import AirshiftError


@dataclass(frozen=True)
class Tool:
    """One tool: its package (which ships the binary), the version airshift's use needs."""

    name: str
    minimum: str
    needed_for: str
    finder: tuple[str, str]  # module, function: where the package says its binary is


RUFF = Tool(
    "ruff",
    "0.12",
    "its AIR rules for Airflow 3, its fixes and its formatter",
    ("ruff.__main__", "find_ruff_bin"),
)
UV = Tool(
    "uv", "0.9", "the resolution options runtimes and bundles pass to it", ("uv", "find_uv_bin")
)


def _packaged(tool: Tool) -> str | None:
    """The binary the tool's own wheel installed next to airshift, if any."""
    module, function = tool.finder
    try:
        return str(getattr(importlib.import_module(module), function)())
    except (ImportError, AttributeError, FileNotFoundError):
        return None


def version_of(binary: str) -> Version | None:
    """What ``BINARY --version`` says (``ruff 0.5.5``, ``uv 0.4.1 (...)``), or None."""
    try:
        out = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, check=False, timeout=60
        ).stdout
    except OSError:
        return None
    m = re.search(r"\b(\d+\.\d+(?:\.\d+)?)\b", out)
    try:
        return Version(m.group(1)) if m else None
    except InvalidVersion:
        return None


def check(tool: Tool, binary: str) -> str:
    """``binary`` if it is at least ``tool.minimum``; else one paragraph saying what to do."""
    found = version_of(binary)
    if found is not None and found >= Version(tool.minimum):
        return binary
    have = f"{tool.name} {found}" if found else f"a {tool.name} whose version it cannot read"
    raise AirshiftError(
        f"This command needs {tool.name} {tool.minimum} or newer ({tool.needed_for}), and "
        f"finds {have} ({binary}). An older {tool.name} is usually there because airshift was "
        "installed into an Airflow environment, whose constraints file pins it: that is enough "
        "for the agent, which never runs it, but not for this command. Run it from airshift's "
        f"own environment (`pipx install airshift` or `uv tool install airshift`), or upgrade "
        f"it here: pip install '{tool.name}>={tool.minimum}'."
    )


@cache
def binary(tool: Tool) -> str:
    """The tool's binary, checked: its package's own, else one on PATH."""
    found = _packaged(tool) or shutil.which(tool.name)
    if found is None:
        raise AirshiftError(
            f"airshift needs {tool.name} ({tool.needed_for}) and cannot find it: "
            f"pip install '{tool.name}>={tool.minimum}' into airshift's environment "
            "(it is a dependency of airshift)."
        )
    return check(tool, found)
