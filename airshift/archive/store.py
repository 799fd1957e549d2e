"""Where archives live: ``s3://`` over boto3, anything else (a local folder, ``file://``,
``gs://``, ...) over fsspec. The one place that knows how an archive location is opened.

Why not fsspec for S3 too: its S3 filesystem, s3fs, pins one fsspec release and an
aiobotocore that pins one botocore, so it installs only where an environment's constraints
happen to pin such a combination. Amazon MWAA 2.7.2's pin none that fits (docs/agent.md,
"Versions"), while every MWAA image has boto3 at its own pins. The archive needs only a few
object operations, so S3 goes through boto3; the layout is the same on every store.
"""

from __future__ import annotations

import io
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any, BinaryIO, Protocol, TypeVar

from airshift.errors import AirshiftError

T = TypeVar("T")

# S3 multipart uploads: parts of this size (S3's minimum is 5 MiB, its limit 10,000 parts:
# 80 GiB a file, far above a part file of rows_per_file rows); ranged reads of this size.
_PART = 8 << 20


class BinaryOut(Protocol):
    """What the archive writes a file through."""

    def write(self, data: Any) -> int: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...


class ArchiveStore(ABC):
    """An archive location; every path is relative to it (``tables/x/part-00000.parquet``).
    Errors of the store itself (a full disk, S3 refusing) surface as ``OSError``."""

    def __init__(self, url: str) -> None:
        self.url = url

    @abstractmethod
    def is_location(self) -> bool:
        """Is there something at the location (a folder, an S3 prefix holding objects)?"""

    @abstractmethod
    def is_empty(self) -> bool: ...

    @abstractmethod
    def exists(self, rel: str) -> bool: ...

    @abstractmethod
    def read_bytes(self, rel: str) -> bytes: ...

    @abstractmethod
    def open_read(self, rel: str) -> BinaryIO:
        """A seekable file (Parquet reads its footer first)."""

    @abstractmethod
    def open_write(self, rel: str) -> BinaryOut:
        """A streamed file, complete under ``rel`` once closed."""

    @abstractmethod
    def write_whole(self, rel: str, data: bytes) -> None:
        """``data`` under ``rel`` at once: a reader sees nothing there, or all of it."""

    @abstractmethod
    def remove(self, rel: str) -> None: ...

    @abstractmethod
    def remove_all(self) -> None:
        """Remove everything at the location."""


class FsspecStore(ArchiveStore):
    def __init__(self, url: str) -> None:
        import fsspec

        super().__init__(url)
        try:
            self.fs, root = fsspec.core.url_to_fs(url)
        except (ImportError, ValueError) as exc:
            raise AirshiftError(f"Cannot open archive location {url!r}: {exc}") from None
        self.root = root.rstrip("/")

    def _path(self, rel: str) -> str:
        return f"{self.root}/{rel}"

    def is_location(self) -> bool:
        return bool(self.fs.isdir(self.root))

    def is_empty(self) -> bool:
        return not (self.fs.exists(self.root) and self.fs.ls(self.root))

    def exists(self, rel: str) -> bool:
        return bool(self.fs.exists(self._path(rel)))

    def read_bytes(self, rel: str) -> bytes:
        return bytes(self.fs.cat_file(self._path(rel)))

    def open_read(self, rel: str) -> BinaryIO:
        return self.fs.open(self._path(rel), "rb")

    def open_write(self, rel: str) -> BinaryOut:
        self.fs.makedirs(self._path(rel).rsplit("/", 1)[0], exist_ok=True)
        return self.fs.open(self._path(rel), "wb")

    def write_whole(self, rel: str, data: bytes) -> None:
        tmp = self._path(f"{rel}.tmp")
        self.fs.makedirs(self.root, exist_ok=True)
        with self.fs.open(tmp, "wb") as fh:
            fh.write(data)
        self.fs.mv(tmp, self._path(rel))

    def remove(self, rel: str) -> None:
        self.fs.rm(self._path(rel))

    def remove_all(self) -> None:
        if self.fs.exists(self.root):
            self.fs.rm(self.root, recursive=True)


@contextmanager
def _s3_errors(url: str) -> Iterator[None]:
    """botocore's errors as ``OSError``s, as a filesystem's would be (the callers report
    them as the location's failure, not a bug)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise OSError(f"{error.get('Code', '?')}: {error.get('Message', exc)} ({url})") from None
    except BotoCoreError as exc:
        raise OSError(f"{exc} ({url})") from None


def _missing(exc: Exception) -> bool:
    from botocore.exceptions import ClientError

    code = exc.response.get("Error", {}).get("Code") if isinstance(exc, ClientError) else None
    return code in ("404", "NoSuchKey", "NoSuchBucket", "NotFound")


class S3Store(ArchiveStore):
    """``s3://BUCKET[/PREFIX]``; credentials, region and endpoint as boto3 finds them (an
    MWAA execution role, ``AWS_ENDPOINT_URL``, ...)."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        try:
            import boto3
        except ImportError:
            raise AirshiftError(
                f"The archive location {url} is on S3, which needs boto3: "
                "pip install 'airshift[s3]' (inside an environment: 'airshift[agent]')."
            ) from None
        self.bucket, _, prefix = url.removeprefix("s3://").partition("/")
        if not self.bucket:
            raise AirshiftError(f"Cannot open archive location {url!r}: it names no bucket.")
        self.prefix = prefix.strip("/")
        self.client = boto3.client("s3")

    def _key(self, rel: str) -> str:
        return f"{self.prefix}/{rel}" if self.prefix else rel

    def call(self, request: Callable[[], T]) -> T:
        with _s3_errors(self.url):
            return request()

    def _listed(self) -> Iterator[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self._key("")
        )
        for page in pages:
            yield from (o["Key"] for o in page.get("Contents", []))

    def is_location(self) -> bool:
        try:
            if not self.prefix:
                self.client.head_bucket(Bucket=self.bucket)
                return True
            return next(self._listed(), None) is not None
        except Exception as exc:
            if _missing(exc):
                return False
            with _s3_errors(self.url):
                raise

    def is_empty(self) -> bool:
        with _s3_errors(self.url):
            return next(self._listed(), None) is None

    def exists(self, rel: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(rel))
        except Exception as exc:
            if _missing(exc):
                return False
            with _s3_errors(self.url):
                raise
        return True

    def read_bytes(self, rel: str) -> bytes:
        key = self._key(rel)
        return self.call(lambda: self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read())

    def open_read(self, rel: str) -> BinaryIO:
        key = self._key(rel)
        head = self.call(lambda: self.client.head_object(Bucket=self.bucket, Key=key))
        return io.BufferedReader(_S3Range(self, key, int(head["ContentLength"])), _PART)

    def open_write(self, rel: str) -> BinaryOut:
        return _S3Upload(self, self._key(rel))

    def write_whole(self, rel: str, data: bytes) -> None:
        key = self._key(rel)  # one PutObject: S3 shows all of it or nothing
        self.call(lambda: self.client.put_object(Bucket=self.bucket, Key=key, Body=data))

    def remove(self, rel: str) -> None:
        key = self._key(rel)
        self.call(lambda: self.client.delete_object(Bucket=self.bucket, Key=key))

    def remove_all(self) -> None:
        with _s3_errors(self.url):
            keys = list(self._listed())
            for start in range(0, len(keys), 1000):  # DeleteObjects takes 1,000 keys at most
                batch = [{"Key": k} for k in keys[start : start + 1000]]
                self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}
                )


class _S3Range(io.RawIOBase):
    """An S3 object read by byte ranges, so a Parquet file is fetched where its reader seeks."""

    def __init__(self, store: S3Store, key: str, size: int) -> None:
        self._store, self._key, self._size, self._pos = store, key, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self._size - self._pos)
        if n <= 0:
            return 0
        s, span = self._store, f"bytes={self._pos}-{self._pos + n - 1}"
        data = s.call(
            lambda: s.client.get_object(Bucket=s.bucket, Key=self._key, Range=span)["Body"].read()
        )
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)


class _S3Upload:
    """A file streamed to S3: one PutObject when it stays under a part, else a multipart
    upload; the object exists only once ``close`` completes it. Not an ``io`` class on
    purpose: those close (here: publish) when garbage-collected, even after a failure."""

    def __init__(self, store: S3Store, key: str) -> None:
        self._store, self._key = store, key
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self.closed = self._failed = False

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self._buffer += view
        while len(self._buffer) >= _PART:
            try:
                self._send(bytes(self._buffer[:_PART]))
            except BaseException:
                self._failed = True  # a part is missing: close() drops the upload
                raise
            del self._buffer[:_PART]
        return view.nbytes

    def flush(self) -> None:
        pass  # parts leave as they fill, the rest on close

    def _send(self, part: bytes) -> None:
        s, number = self._store, len(self._parts) + 1
        if self._upload_id is None:
            self._upload_id = s.call(
                lambda: s.client.create_multipart_upload(Bucket=s.bucket, Key=self._key)
            )["UploadId"]
        answer = s.call(
            lambda: s.client.upload_part(
                Bucket=s.bucket, Key=self._key, UploadId=self._upload_id,
                PartNumber=number, Body=part,
            )
        )  # fmt: skip
        self._parts.append({"ETag": answer["ETag"], "PartNumber": number})

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        s = self._store
        try:
            if self._failed:
                raise OSError(f"a part of {self._key} was not uploaded; the file is dropped")
            if self._upload_id is None:
                body = bytes(self._buffer)
                s.call(lambda: s.client.put_object(Bucket=s.bucket, Key=self._key, Body=body))
                return
            if self._buffer:
                self._send(bytes(self._buffer))
            s.call(
                lambda: s.client.complete_multipart_upload(
                    Bucket=s.bucket, Key=self._key, UploadId=self._upload_id,
                    MultipartUpload={"Parts": self._parts},
                )
            )  # fmt: skip
        except BaseException:
            if self._upload_id is not None:  # keep no parts (S3 would store and bill them)
                with suppress(Exception):
                    s.client.abort_multipart_upload(
                        Bucket=s.bucket, Key=self._key, UploadId=self._upload_id
                    )
            raise
        finally:
            self._buffer = bytearray()


def open_store(url: str) -> ArchiveStore:
    """The store of an archive URL or a local path."""
    return S3Store(url) if url.startswith("s3://") else FsspecStore(url)
