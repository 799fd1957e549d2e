"""CloudWatch Logs as a log store: MWAA's ``airflow-{env}-Task`` log group.

Why each detail:
- Stream names are the Airflow relative path with ``:`` replaced by ``_`` (Airflow's
  CloudWatch handler does this; CloudWatch forbids ``:`` in stream names).
- Reading follows ``nextForwardToken`` until the token repeats: GetLogEvents returns at
  most 1 MB / 10,000 events per call, which is why copies that read one page lose the
  rest of long logs.
- Writing splits the log into events by line and batches them within the PutLogEvents
  limits (10,000 events, 1,048,576 bytes counting 26 bytes per event, 24 hours per
  batch, 256 KB per event); rejected events fail the file instead of vanishing.
- Throttling (``ThrottlingException``) and other retryable errors are retried by
  botocore's "standard" retry mode with exponential back-off and jitter.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlparse

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from airshift.errors import AirshiftError
from airshift.logs.naming import MalformedName

MAX_BATCH_EVENTS = 10_000
MAX_BATCH_BYTES = 1_048_576
EVENT_OVERHEAD = 26
MAX_EVENT_BYTES = 262_144 - EVENT_OVERHEAD
MAX_BATCH_SPAN_MS = 24 * 3600 * 1000
# PutLogEvents rejects events older than 14 days or more than 2 hours ahead.
OLDEST_ACCEPTED = timedelta(days=14) - timedelta(hours=1)

_STAMP = re.compile(
    r"(\d{4}-\d{2}-\d{2})(?:T|,? )(\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:?\d{2}| UTC)?"
)


@dataclass(frozen=True)
class Event:
    timestamp: int  # milliseconds since the epoch
    message: str

    @property
    def cost(self) -> int:
        return len(self.message.encode()) + EVENT_OVERHEAD


def _line_time(line: str) -> datetime | None:
    """The timestamp an Airflow log line starts with (2.x text or 3.x JSON), if any."""
    match = _STAMP.search(line[:80])
    if not match:
        return None
    day, clock, fraction, zone = match.groups()
    zone = "+00:00" if zone in (None, "Z", " UTC") else zone
    try:
        return datetime.fromisoformat(f"{day}T{clock}{(fraction or '')[:7]}{zone}")
    except ValueError:
        return None


def _split_oversized(message: str) -> Iterator[str]:
    data = message.encode()
    while len(data) > MAX_EVENT_BYTES:
        cut = MAX_EVENT_BYTES
        while cut and (data[cut] & 0xC0) == 0x80:  # never cut inside a UTF-8 sequence
            cut -= 1
        yield data[:cut].decode()
        data = data[cut:]
    yield data.decode()


def to_events(data: bytes, when: datetime | None, now: datetime | None = None) -> list[Event]:
    """One event per line; blank lines ride along with the line before (CloudWatch refuses
    empty messages), so joining messages with newlines gives the log back.

    Timestamps come from each line, else the previous line, else ``when``; they never go
    backwards, and are moved into the window PutLogEvents accepts (order is kept; the
    original time stays in the message text).
    """
    now = now or datetime.now(timezone.utc)
    text = data.decode("utf-8", errors="replace")
    lines = text[:-1].split("\n") if text.endswith("\n") else text.split("\n")
    messages: list[str] = []
    pending_blank = ""
    for line in lines:
        if line == "" and messages:
            messages[-1] += "\n"
        elif line == "":
            pending_blank += "\n"
        else:
            messages.append(pending_blank + line)
            pending_blank = ""
    if pending_blank:
        messages.append(pending_blank.rstrip("\n") or " ")
    floor, ceiling = now - OLDEST_ACCEPTED, now
    last = when or now
    events: list[Event] = []
    for message in messages:
        last = max(last, _line_time(message.lstrip("\n")) or last)
        stamp = min(max(last, floor), ceiling)
        millis = int(stamp.timestamp() * 1000)
        events.extend(Event(millis, part) for part in _split_oversized(message))
    return events


def batches(events: list[Event]) -> Iterator[list[Event]]:
    """Consecutive groups of events that PutLogEvents accepts in one call."""
    batch: list[Event] = []
    size = 0
    for event in events:
        if batch and (
            len(batch) >= MAX_BATCH_EVENTS
            or size + event.cost > MAX_BATCH_BYTES
            or event.timestamp - batch[0].timestamp > MAX_BATCH_SPAN_MS
        ):
            yield batch
            batch, size = [], 0
        batch.append(event)
        size += event.cost
    if batch:
        yield batch


def _joined(messages: Iterable[str]) -> bytes:
    return "".join(m + "\n" for m in messages).encode()


def _code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


class CloudWatchStore:
    """``cloudwatch://LOG_GROUP[?region=R&max_attempts=N]``; the endpoint and credentials
    come from the usual AWS configuration (``AWS_ENDPOINT_URL`` for a compatible server)."""

    def __init__(self, url: str) -> None:
        self.url = url
        parsed = urlparse(url)
        self.group = parsed.netloc + parsed.path.rstrip("/")
        if not self.group:
            raise AirshiftError(f"{url!r} names no log group: use cloudwatch://LOG_GROUP.")
        query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        attempts = int(query.get("max_attempts", 10))  # in all, the first call included
        config = Config(retries={"mode": "standard", "total_max_attempts": attempts})
        try:
            self.client = boto3.client("logs", region_name=query.get("region"), config=config)
        except BotoCoreError as exc:
            raise AirshiftError(f"Cannot use CloudWatch Logs for {url!r}: {exc}") from exc
        self._group_ready = False
        self._lock = threading.Lock()

    def name_for(self, relpath: str) -> str:
        name = relpath.replace(":", "_")
        if "*" in name or len(name) > 512:
            raise MalformedName(f"{name!r} is not a valid CloudWatch stream name")
        return name

    def _events(self, name: str) -> Iterator[dict]:
        token = None
        while True:
            kwargs: dict[str, str] = {"nextToken": token} if token else {}
            try:
                page = self.client.get_log_events(
                    logGroupName=self.group, logStreamName=name, startFromHead=True, **kwargs
                )
            except ClientError as exc:
                if _code(exc) == "ResourceNotFoundException":
                    raise FileNotFoundError(f"no stream {name} in {self.group}") from exc
                if _code(exc) == "AccessDeniedException":
                    raise PermissionError(str(exc)) from exc
                raise
            yield from page["events"]
            if page.get("nextForwardToken") in (None, token):
                return
            token = page["nextForwardToken"]

    def read(self, name: str) -> bytes:
        return _joined(e["message"] for e in self._events(name))

    def stored_form(self, data: bytes) -> bytes:
        return _joined(e.message for e in to_events(data, None))

    def _exists(self, name: str) -> bool:
        pages = self.client.get_paginator("describe_log_streams").paginate(
            logGroupName=self.group, logStreamNamePrefix=name
        )
        try:
            return any(s["logStreamName"] == name for p in pages for s in p["logStreams"])
        except ClientError as exc:
            if _code(exc) == "ResourceNotFoundException":
                return False
            raise

    def size(self, name: str) -> int | None:
        # storedBytes is no longer maintained by CloudWatch: the events are the only truth.
        return len(self.read(name)) if self._exists(name) else None

    def _ensure_group(self) -> None:
        with self._lock:
            if self._group_ready:
                return
            try:
                self.client.create_log_group(logGroupName=self.group)
            except ClientError as exc:
                if _code(exc) != "ResourceAlreadyExistsException":
                    raise
            self._group_ready = True

    def write(self, name: str, data: bytes, when: datetime | None, replace: bool) -> None:
        self._ensure_group()
        if replace:
            try:
                self.client.delete_log_stream(logGroupName=self.group, logStreamName=name)
            except ClientError as exc:
                if _code(exc) != "ResourceNotFoundException":
                    raise
        try:
            self.client.create_log_stream(logGroupName=self.group, logStreamName=name)
        except ClientError as exc:
            if _code(exc) != "ResourceAlreadyExistsException":
                raise
        for batch in batches(to_events(data, when)):
            response = self.client.put_log_events(
                logGroupName=self.group,
                logStreamName=name,
                logEvents=[{"timestamp": e.timestamp, "message": e.message} for e in batch],
            )
            rejected = response.get("rejectedLogEventsInfo")
            if rejected:
                raise OSError(f"CloudWatch rejected events of {name}: {rejected}")
