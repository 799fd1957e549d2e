"""Read an archive: refuse incomplete or corrupt ones, stream table batches."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.parquet as pq
from packaging.version import Version

from airshift.archive.manifest import FORMAT_VERSION, Manifest
from airshift.archive.store import open_store
from airshift.archive.writer import INCOMPLETE, MANIFEST
from airshift.errors import AirshiftError, DamagedArchive


def is_archive(url: str) -> bool:
    """Does ``url`` look like an archive location (rather than a database URL)?"""
    if "://" in url and not url.startswith(("file://", "s3://", "gs://", "memory://")):
        return False
    try:
        return open_store(url).is_location()
    except (AirshiftError, OSError):
        return False


def _refuse_unsafe_pyarrow() -> None:
    """pyarrow before 14.0.1 runs code a crafted Parquet file carries (CVE-2023-47248). Where
    an environment pins such a pyarrow (MWAA 2.7.2: 11.0.0), pyarrow-hotfix, the fix its
    authors publish for those releases, closes that hole when imported; without it, no archive
    is read."""
    if Version(pa.__version__) >= Version("14.0.1"):
        return
    try:
        import pyarrow_hotfix  # noqa: F401  (importing it disables the unsafe extension type)
    except ImportError:
        raise AirshiftError(
            f"pyarrow {pa.__version__} is older than 14.0.1 and reads crafted Parquet files "
            "into running code (CVE-2023-47248); airshift reads no archive with it unless "
            "pyarrow-hotfix is installed: pip install pyarrow-hotfix (airshift[agent] has it), "
            "or upgrade pyarrow."
        ) from None


class ArchiveReader:
    """An archive whose manifest has been read and whose format this airshift understands."""

    def __init__(self, url: str) -> None:
        _refuse_unsafe_pyarrow()
        self.url = url
        self.store = open_store(url)
        if not self.store.exists(MANIFEST):
            hint = (
                " An export was interrupted before it finished (the manifest is written last); run it again to the same location."
                if self.store.exists(INCOMPLETE)
                else ""
            )
            raise DamagedArchive(
                f"{url} is not a complete airshift archive: it has no {MANIFEST}.{hint}"
            )
        try:
            self.manifest = Manifest.from_json(self.store.read_bytes(MANIFEST).decode())
        except (json.JSONDecodeError, TypeError, KeyError, UnicodeDecodeError) as exc:
            raise DamagedArchive(
                f"The manifest of {url} is corrupt ({exc}); the archive cannot be trusted."
            ) from None
        if self.manifest.format_version > FORMAT_VERSION:
            raise AirshiftError(
                f"{url} has archive format {self.manifest.format_version}; this airshift reads "
                f"up to {FORMAT_VERSION}. Upgrade airshift."
            )

    def verify(self) -> list[str]:
        """Every problem with the table files: missing, truncated, or checksum mismatch."""
        problems = []
        for table in self.manifest.tables.values():
            for f in table.files:
                if not self.store.exists(f.path):
                    problems.append(f"{f.path}: missing")
                    continue
                digest, size = hashlib.sha256(), 0
                with self.store.open_read(f.path) as fh:
                    while chunk := fh.read(1 << 20):
                        digest.update(chunk)
                        size += len(chunk)
                if size != f.bytes:
                    problems.append(
                        f"{f.path}: {size} bytes, the manifest says {f.bytes} (truncated or replaced)"
                    )
                elif digest.hexdigest() != f.sha256:
                    problems.append(
                        f"{f.path}: SHA-256 mismatch (the file was changed or corrupted)"
                    )
        return problems

    def require_intact(self) -> None:
        problems = self.verify()
        if problems:
            raise DamagedArchive(
                f"The archive {self.url} is damaged and will not be used: "
                + "; ".join(problems[:5])
                + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
            )

    def iter_batches(
        self, table: str, batch_size: int = 10_000, columns: list[str] | None = None
    ) -> Iterator[pa.RecordBatch]:
        """The table's rows as Arrow batches, file by file (memory bounded by batch size)."""
        entry = self.manifest.tables.get(table)
        if entry is None:
            return
        for f in entry.files:
            with self.store.open_read(f.path) as fh:
                try:
                    yield from pq.ParquetFile(fh).iter_batches(
                        batch_size=batch_size, columns=columns
                    )
                except (pa.ArrowInvalid, OSError) as exc:
                    raise DamagedArchive(f"{f.path} in {self.url} cannot be read: {exc}") from None
