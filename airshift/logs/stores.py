"""Where logs live: a folder, any fsspec filesystem (S3, ...), or CloudWatch Logs.

Why one small protocol: the copier only needs to name, size, read and write one log.
Each backend keeps its own naming quirk (CloudWatch stream names cannot hold ``:``) behind
``name_for`` so the Airflow-side relative path stays the single source of truth.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Protocol

import fsspec

from airshift.errors import AirshiftError


class LogStore(Protocol):
    """One side of a copy."""

    url: str

    def name_for(self, relpath: str) -> str:
        """The store's own name for the log Airflow calls ``relpath``."""

    def size(self, name: str) -> int | None:
        """Size in bytes, None when the log does not exist."""

    def read(self, name: str) -> bytes:
        """The whole log; FileNotFoundError / PermissionError as the OS would raise them."""

    def write(self, name: str, data: bytes, when: datetime | None, replace: bool) -> None:
        """Store the log; ``when`` dates lines that carry no timestamp (CloudWatch)."""

    def stored_form(self, data: bytes) -> bytes:
        """What ``read`` returns after ``write(data)``: to recognise a log already copied."""


class FsspecStore:
    """A folder (local or mounted) or a remote filesystem such as ``s3://bucket/prefix``.

    Local writes go to a temporary file renamed into place, so an interrupted copy never
    leaves a truncated log that a later run would take for a conflict (nor, after the next
    run, the temporary file).
    """

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            self.fs, root = fsspec.core.url_to_fs(url)
        except (ImportError, ValueError) as exc:
            raise AirshiftError(f"Cannot open log location {url!r}: {exc}") from exc
        self.root = root.rstrip("/")
        self.local = "file" in self.fs.protocol

    def name_for(self, relpath: str) -> str:
        return f"{self.root}/{relpath}"

    def size(self, name: str) -> int | None:
        try:
            return int(self.fs.size(name))
        except FileNotFoundError:
            return None

    def read(self, name: str) -> bytes:
        if self.local and os.path.isdir(name):
            raise FileNotFoundError(f"{name} is a directory")
        return self.fs.cat_file(name)

    def stored_form(self, data: bytes) -> bytes:
        return data

    def write(self, name: str, data: bytes, when: datetime | None, replace: bool) -> None:
        if not self.local:
            self.fs.pipe_file(name, data)
            return
        folder = Path(name).parent
        folder.mkdir(parents=True, exist_ok=True)
        # Named after the log, not random: a run killed mid-write leaves this file, and the
        # next run's copy of the same log overwrites and renames it, so nothing is left over.
        part = folder / f".{Path(name).name}.airshift-part"
        try:
            part.write_bytes(data)
            _publish(part, name)
        finally:
            part.unlink(missing_ok=True)


def _publish(part: Path, name: str) -> None:
    """Put a completely written log in place in one rename: no reader sees half of it."""
    os.chmod(part, 0o644)
    os.replace(part, name)


def open_store(url: str) -> LogStore:
    """``cloudwatch://LOG_GROUP[?region=R]``, any fsspec URL, or a local folder."""
    if url.startswith("cloudwatch://"):
        from airshift.logs.cloudwatch import CloudWatchStore

        return CloudWatchStore(url)
    return FsspecStore(url if "://" in url else os.path.abspath(os.path.expanduser(url)))
