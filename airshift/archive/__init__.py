"""The airshift archive: a manifest, one Parquet dataset per table, checksums, sealed secrets.

Layout (a local folder or any fsspec URL such as ``s3://bucket/prefix``)::

    manifest.json                      written last and atomically: its presence = complete
    tables/<table>/part-00000.parquet  rows at the source's schema revision
"""

from airshift.archive.manifest import FORMAT_VERSION, Manifest, TableEntry
from airshift.archive.reader import ArchiveReader
from airshift.archive.writer import ArchiveWriter

__all__ = ["FORMAT_VERSION", "ArchiveReader", "ArchiveWriter", "Manifest", "TableEntry"]
