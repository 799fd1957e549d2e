"""One exported archive and one fresh target, shared by a module's fault cases.

Why shared: most bad inputs are refused before anything is written, so a case is a copy of
an archive or a SQLite file and one run of airshift; re-exporting per case would be most of
the suite's time. Each case still gets its own copy of whatever it damages.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.faults.lab import airshift
from tests.realairflow import build


@dataclass
class Lab:
    """A 2.10.5 SQLite source with history, its archive, and a 3.3.2 SQLite target."""

    tmp: Path
    source: str
    source_key: str
    archive: Path
    key: str
    target: str
    target_key: str

    def copy_archive(self) -> Path:
        """A private copy of the archive to damage."""
        out = self.tmp / f"archive-{uuid.uuid4().hex[:8]}"
        shutil.copytree(self.archive, out)
        return out

    def copy_sqlite(self, url: str) -> str:
        """A private copy of a SQLite database to damage."""
        out = self.tmp / f"db-{uuid.uuid4().hex[:8]}.db"
        shutil.copyfile(url.removeprefix("sqlite:///"), out)
        return f"sqlite:///{out}"

    def import_args(
        self, archive: Path | str | None = None, target: str | None = None
    ) -> list[str]:
        return [
            "import",
            str(archive or self.archive),
            target or self.target,
            "--archive-key",
            self.key,
            "--target-fernet-key",
            self.target_key,
        ]


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Iterator[Lab]:
    tmp = tmp_path_factory.mktemp("lab")
    src = build.get_fixture("2.10.5", "sqlite")
    tgt = build.get_fixture("3.3.2", "sqlite", "target")
    source = build.clone(src, str(tmp / "source.db"))
    target = build.clone(tgt, str(tmp / "target.db"))
    archive = tmp / "archive"
    proc = airshift(
        "export", source, "--to", str(archive), "--fernet-key", src.fernet_key, "--json"
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    key = json.loads(proc.stdout)["generated_archive_key"]
    yield Lab(tmp, source, src.fernet_key, archive, key, target, tgt.fernet_key)
