"""The archive manifest: what the archive holds, where it came from, how to check it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

FORMAT_VERSION = 1


@dataclass
class FileEntry:
    path: str  # relative to the archive root
    rows: int
    bytes: int
    sha256: str


@dataclass
class TableEntry:
    name: str
    columns: list[dict[str, str]]  # name, source type, arrow type
    rows: int = 0
    files: list[FileEntry] = field(default_factory=list)
    secret_columns: list[str] = field(default_factory=list)


@dataclass
class Manifest:
    """Everything needed to trust, decrypt and upgrade an archive without the source."""

    airshift_version: str
    source: dict[str, Any]  # url (password masked), backend, alembic_revision, airflow_version
    created_at: str
    filters: dict[str, Any]
    secrets: dict[str, Any]  # mode: "sealed" | "skipped"; key_fingerprint
    tables: dict[str, TableEntry]
    skipped_tables: dict[str, str] = field(default_factory=dict)
    pause_state: dict[str, bool] = field(default_factory=dict)  # dag_id -> is_paused at export
    format_version: int = FORMAT_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True, default=str)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        raw = json.loads(text)
        tables = {
            name: TableEntry(**{**t, "files": [FileEntry(**f) for f in t["files"]]})
            for name, t in raw.pop("tables").items()
        }
        return cls(**raw, tables=tables)
