"""How long work tells its caller where it is: a progress protocol and a log protocol.

Why protocols: the library runs under the CLI (a Rich display on a terminal), in tests,
in scripts and, later, inside Airflow itself; none of those should get a terminal
widget or text on stdout they did not ask for. Library code takes a ``Progress`` and a
``Log`` and defaults to ``NULL_PROGRESS`` and ``null_log``; the CLI passes a Rich adapter
(``report/console.py``), and ``LoggingProgress`` and ``logging_log`` send both to the
``airshift`` logger (the way dlt's ``Collector`` has a null, a log and a tqdm form).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

Log = Callable[[str], object]
"""Takes one line for the person running airshift (what is being done, and why)."""

logger = logging.getLogger("airshift")


def null_log(message: str) -> None:
    """Says nothing: the default for library callers."""


def logging_log(message: str) -> None:
    """Logs each line at INFO on the ``airshift`` logger."""
    logger.info(message)


class Progress(Protocol):
    """Progress of named pieces of work (a table exported, loaded, merged)."""

    @property
    def watched(self) -> bool:
        """Whether anyone follows the totals: counting them may cost a scan."""
        ...

    def update(
        self, name: str, advance: int = 0, total: int | None = None, label: str = ""
    ) -> None:
        """``name`` advanced by ``advance`` units (of ``total`` when known); the first
        call for a name starts it. ``label`` says more (bytes moved, say)."""
        ...


class NullProgress:
    """Follows nothing."""

    watched = False

    def update(
        self, name: str, advance: int = 0, total: int | None = None, label: str = ""
    ) -> None:
        pass


NULL_PROGRESS = NullProgress()


class LoggingProgress:
    """Logs each piece of work when it starts, every ``every`` seconds and when it ends."""

    watched = True

    def __init__(self, every: float = 10.0, log: Log = logging_log) -> None:
        self.every, self.log = every, log
        self._state: dict[str, list] = {}  # name -> [done, total, last logged at]
        self._lock = threading.Lock()

    def update(
        self, name: str, advance: int = 0, total: int | None = None, label: str = ""
    ) -> None:
        with self._lock:
            now = time.monotonic()
            state = self._state.setdefault(name, [0, None, None])
            state[0] += advance
            if total is not None:
                state[1] = total
            done, of, last = state
            finished = of is not None and done >= of
            if last is None or finished or now - last >= self.every:
                state[2] = now
                self.log(
                    f"{name}: {done}"
                    + (f" of {of}" if of is not None else "")
                    + (f" {label}" if label else "")
                )
            if finished:
                del self._state[name]
