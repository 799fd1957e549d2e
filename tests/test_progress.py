"""The logging adapters of the progress and log protocols: what a library caller without a
terminal gets when it asks (``airshift.progress``)."""

from __future__ import annotations

import logging

import pytest

from airshift.progress import NULL_PROGRESS, LoggingProgress, logging_log


def test_logging_progress_says_when_work_starts_and_ends(caplog: pytest.LogCaptureFixture) -> None:
    progress = LoggingProgress(every=3600)
    with caplog.at_level(logging.INFO, logger="airshift"):
        progress.update("load dag_run", total=3)
        progress.update("load dag_run", 2)  # within the interval: not said
        progress.update("load dag_run", 1, label="12 kB")
        progress.update("merge dag_run")  # total unknown yet
        logging_log("scratch database dropped")
    assert [r.getMessage() for r in caplog.records] == [
        "load dag_run: 0 of 3",
        "load dag_run: 3 of 3 12 kB",
        "merge dag_run: 0",
        "scratch database dropped",
    ]
    assert progress.watched and not NULL_PROGRESS.watched
