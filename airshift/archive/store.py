"""Where archives live: any fsspec filesystem (local folder, file://, s3://, ...)."""

from __future__ import annotations

import fsspec
from fsspec import AbstractFileSystem

from airshift.errors import AirshiftError


def open_store(url: str) -> tuple[AbstractFileSystem, str]:
    """The filesystem and root path for an archive URL or a local path."""
    try:
        fs, root = fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as exc:
        raise AirshiftError(f"Cannot open archive location {url!r}: {exc}") from None
    return fs, root.rstrip("/")
