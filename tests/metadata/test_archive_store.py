"""The archive on S3 (boto3, a moto server standing in) is the archive in a folder, byte for
byte: same files, same manifest, same checksums; and the S3 store keeps the archive's rules
(manifest last, a location that holds files is refused, an interrupted one starts over, an
aborted one is removed, no multipart upload left behind)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import boto3
import pyarrow as pa
import pytest

from airshift.archive import ArchiveReader, ArchiveWriter, Manifest, TableEntry
from airshift.archive.reader import is_archive
from airshift.archive.writer import INCOMPLETE, MANIFEST
from airshift.errors import AirshiftError, DamagedArchive

BUCKET = "airshift-store"


def _write(url: str) -> Manifest:
    """Two tables; ``blob`` crosses a multipart part (8 MiB) in its first file and rolls to a
    second file, ``small`` is one small PutObject."""
    writer = ArchiveWriter(url, rows_per_file=3)
    schema = pa.schema([("id", pa.int64()), ("data", pa.large_binary())])
    blob = TableEntry("blob", [{"name": "id"}, {"name": "data"}])
    with writer.table(blob, schema) as sink:
        for i in range(4):  # incompressible: the Parquet file really is 12 MiB
            sink.write(pa.record_batch([pa.array([i]), pa.array([os.urandom(4 << 20)])], schema))
    small = TableEntry("small", [{"name": "id"}, {"name": "data"}])
    with writer.table(small, schema) as sink:
        sink.write(pa.record_batch([pa.array([1, 2]), pa.array([b"a", None])], schema))
    manifest = Manifest("0", {}, "2026-01-01T00:00:00Z", {}, {"mode": "skipped"}, {})
    writer.finish(manifest)
    return manifest


def _s3_objects(client, prefix: str) -> dict[str, bytes]:
    listed = client.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    return {
        o["Key"].removeprefix(prefix): client.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read()
        for o in listed
    }


def test_an_s3_archive_is_the_folder_archive_byte_for_byte(aws, tmp_path: Path) -> None:
    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    folder, url = tmp_path / "archive", f"s3://{BUCKET}/prod/a1"
    _write(str(folder))
    _write(url)
    # the Parquet files differ only through the random data: compare the layout and the
    # manifests' file lists (sizes), then the S3 archive against its own checksums
    on_disk = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    in_s3 = _s3_objects(client, "prod/a1/")
    assert (
        set(in_s3)
        == on_disk
        == {
            MANIFEST,
            "tables/blob/part-00000.parquet",
            "tables/blob/part-00001.parquet",
            "tables/small/part-00000.parquet",
        }
    )
    local, remote = ArchiveReader(str(folder)), ArchiveReader(url)
    assert [(f.path, f.rows) for t in remote.manifest.tables.values() for f in t.files] == [
        (f.path, f.rows) for t in local.manifest.tables.values() for f in t.files
    ]
    assert remote.manifest.tables["blob"].files[0].bytes > 8 << 20  # a multipart upload
    assert remote.verify() == []
    assert client.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    ids = [r["id"] for b in remote.iter_batches("blob", columns=["id"]) for r in b.to_pylist()]
    assert ids == [0, 1, 2, 3]
    assert [r for b in remote.iter_batches("small") for r in b.to_pylist()] == [
        {"id": 1, "data": b"a"},
        {"id": 2, "data": None},
    ]
    # a damaged object is found by its checksum, as a damaged file is
    key = "prod/a1/tables/small/part-00000.parquet"
    client.put_object(Bucket=BUCKET, Key=key, Body=in_s3["tables/small/part-00000.parquet"][:-1])
    assert ArchiveReader(url).verify() == [
        "tables/small/part-00000.parquet: "
        f"{len(in_s3['tables/small/part-00000.parquet']) - 1} bytes, the manifest says "
        f"{len(in_s3['tables/small/part-00000.parquet'])} (truncated or replaced)"
    ]


def test_the_s3_store_keeps_the_archive_rules(aws) -> None:
    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    url = f"s3://{BUCKET}/rules"
    assert not is_archive(url) and not is_archive("s3://no-such-bucket/x")
    assert is_archive(f"s3://{BUCKET}")  # the bucket itself is a location
    # an interrupted export (its marker, no manifest) is no archive, and is started over
    client.put_object(Bucket=BUCKET, Key=f"rules/{INCOMPLETE}", Body=b"")
    client.put_object(Bucket=BUCKET, Key="rules/tables/t/part-00000.parquet", Body=b"half")
    with pytest.raises(DamagedArchive, match="An export was interrupted"):
        ArchiveReader(url)
    _write(url)
    assert MANIFEST in _s3_objects(client, "rules/") and INCOMPLETE not in _s3_objects(
        client, "rules/"
    )
    assert ArchiveReader(url).verify() == []
    # a complete archive is never overwritten
    with pytest.raises(AirshiftError, match="is not empty"):
        ArchiveWriter(url)
    # an aborted export leaves nothing
    writer = ArchiveWriter(f"{url}-aborted")
    assert set(_s3_objects(client, "rules-aborted/")) == {INCOMPLETE}
    writer.abort()
    assert _s3_objects(client, "rules-aborted/") == {}
    # a bucket that does not exist: the location's error, not a traceback
    with pytest.raises(AirshiftError, match=r"Cannot write to the archive location.*NoSuchBucket"):
        ArchiveWriter("s3://no-such-bucket/x")


def test_a_pyarrow_before_the_cve_fix_reads_no_archive_without_the_hotfix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pyarrow < 14.0.1 (MWAA 2.7.2 pins 11.0.0) with no pyarrow-hotfix: refused, one
    sentence saying why and what to install (test_install[2.7.2] reads with the hotfix)."""
    _write(str(tmp_path / "a"))
    monkeypatch.setattr(pa, "__version__", "11.0.0")
    monkeypatch.setitem(sys.modules, "pyarrow_hotfix", None)  # import fails
    with pytest.raises(AirshiftError, match=r"CVE-2023-47248.*pip install pyarrow-hotfix"):
        ArchiveReader(str(tmp_path / "a"))
