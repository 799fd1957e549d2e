"""Lines to CloudWatch events and PutLogEvents batches (pure functions, no AWS)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from airshift.logs.cloudwatch import (
    EVENT_OVERHEAD,
    MAX_BATCH_BYTES,
    MAX_BATCH_EVENTS,
    MAX_EVENT_BYTES,
    Event,
    _line_time,
    batches,
    to_events,
)

NOW = datetime(2026, 6, 1, tzinfo=timezone.utc)


def _joined(events: list[Event]) -> bytes:
    return "".join(e.message + "\n" for e in events).encode()


def test_lines_round_trip_with_blank_lines() -> None:
    data = b"\n\nfirst\n\n\nsecond\n  \nthird\n"
    events = to_events(data, NOW, NOW)
    assert all(e.message for e in events)
    assert _joined(events) == data


def test_timestamps_of_airflow_2_3_and_mwaa_lines() -> None:
    assert _line_time("[2026-05-30T10:00:00.123+0000] {x.py:1} INFO - a") == datetime(
        2026, 5, 30, 10, 0, 0, 123000, tzinfo=timezone.utc
    )
    assert _line_time('{"timestamp":"2026-05-30T10:00:00.123456Z","event":"a"}') is not None
    assert _line_time("[2026-05-30, 10:00:00 UTC] {x.py:1} INFO - a") is not None
    assert _line_time("no time here") is None


def test_timestamps_never_go_back_and_stay_in_the_accepted_window() -> None:
    data = (
        b"[2026-05-31T10:00:00.000+0000] a\n"
        b"[2026-05-31T09:00:00.000+0000] earlier line\n"
        b"no stamp\n"
        b"[2020-01-01T00:00:00.000+0000] years old\n"
    )
    stamps = [e.timestamp for e in to_events(data, None, NOW)]
    assert stamps == sorted(stamps)
    old = to_events(b"[2020-01-01T00:00:00.000+0000] x\n", None, NOW)[0].timestamp
    assert old >= (NOW - timedelta(days=14)).timestamp() * 1000


def test_oversized_lines_are_split_on_character_boundaries() -> None:
    line = "a" + "é" * MAX_EVENT_BYTES  # two bytes each: a cut at the limit falls mid-"é"
    events = to_events(line.encode() + b"\n", NOW, NOW)
    assert len(events) == 3
    assert all(len(e.message.encode()) <= MAX_EVENT_BYTES for e in events)
    assert "".join(e.message for e in events) == line


def test_batches_respect_count_size_and_span_limits() -> None:
    t = int(NOW.timestamp() * 1000)
    many = [Event(t, "x") for _ in range(MAX_BATCH_EVENTS + 5)]
    assert [len(b) for b in batches(many)] == [MAX_BATCH_EVENTS, 5]
    big = [Event(t, "y" * 200_000) for _ in range(12)]
    for batch in batches(big):
        assert sum(len(e.message) + EVENT_OVERHEAD for e in batch) <= MAX_BATCH_BYTES
    day = 24 * 3600 * 1000
    spread = [Event(t, "a"), Event(t + day // 2, "b"), Event(t + day + 1, "c")]
    assert [len(b) for b in batches(spread)] == [2, 1]
