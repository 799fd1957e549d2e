"""A real browser for the HTML reports: Debian's Chromium, headless.

Why a browser and not an HTML parser alone: the report must open as people open it. The
DOM is the one Chromium built from the file (``--dump-dom``), and the screenshot is what
it drew, saved for people to look at.
"""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

CHROMIUM = "chromium"


def _chromium(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess:
    exe = shutil.which(CHROMIUM)
    assert exe, "Chromium is missing: apt-get install -y chromium (Debian's package)"
    return subprocess.run(
        [
            exe,
            "--headless",
            "--no-sandbox",  # tests may run as root
            "--disable-gpu",
            f"--user-data-dir={profile}",
            *args,
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def dump_dom(page: Path, profile: Path) -> str:
    """The DOM Chromium built from ``page``, serialised."""
    return _chromium(page, profile, "--dump-dom").stdout


def screenshot(page: Path, profile: Path, out: Path) -> Path:
    _chromium(page, profile, f"--screenshot={out}", "--window-size=1280,1800")
    return out


class Counts(HTMLParser):
    """The counts a report's DOM shows: ``tables[section][table][count]`` from the cells
    marked ``data-count`` in rows marked ``data-table``, and ``ids[id]`` the text of every
    element with an id."""

    def __init__(self, dom: str) -> None:
        super().__init__()
        self.tables: dict[str, dict[str, dict[str, int]]] = {}
        self.ids: dict[str, str] = {}
        self._section = self._table = self._count = self._id = None
        self.feed(dom)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table" and (a.get("id") or "").startswith("tables-"):
            self._section = a["id"].removeprefix("tables-")
            self.tables[self._section] = {}
        if tag == "tr" and a.get("data-table") and self._section:
            self._table = a["data-table"]
            self.tables[self._section][self._table] = {}
        self._count = a.get("data-count")
        self._id = a.get("id")

    def handle_data(self, data: str) -> None:
        if self._count and self._section and self._table:
            self.tables[self._section][self._table][self._count] = int(data)
        if self._id:
            self.ids[self._id] = data.strip()

    def handle_endtag(self, tag: str) -> None:
        self._count = self._id = None
