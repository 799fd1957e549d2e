"""How a process that airshift starts begins and ends (the ``airshift`` command, the
agent's job process).

Why its end is not the interpreter's: Arrow's thread pools are torn down during CPython's
finalization while one of their threads may still be alive, and then ``std::terminate``
kills the process with SIGABRT ("terminate called without an active exception",
apache/arrow#34314) after all of its work was done and reported, so a successful
command exits -6 / 134. Measured here on a Parquet round trip in a fresh interpreter,
two at a time on two cores: 40 of 600 runs aborted, on either Arrow allocator; side by
side, 28 of 300 without ``run`` and 0 of 300 with it. ``run`` leaves with ``os._exit``,
keeping what finalization is for: non-daemon threads are waited for, ``atexit``
functions (logging's flush, temporary directories) run, standard streams are flushed,
and the exit code is the one the interpreter would have given.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
import traceback
from collections.abc import Callable
from typing import NoReturn

from airshift import memory
from airshift.errors import ExitCode

# What CPython exits with when flushing stdout fails at the end (a closed pipe).
_FLUSH_FAILED = 120


def run(main: Callable[[], object]) -> NoReturn:
    """``main`` as a program: Arrow's C++ code on the system allocator (it reads its pool
    when pyarrow loads, so ``main`` imports what loads pyarrow), then the process ends
    without interpreter finalization, with ``main``'s exit code."""
    memory.arrow_on_system_pool()
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = _exit_code(exc.code)
    except BaseException as exc:
        traceback.print_exc()
        code = ExitCode.INTERRUPTED if isinstance(exc, KeyboardInterrupt) else 1
    _leave(code)


def _exit_code(code: object) -> int:
    """``SystemExit.code`` as the interpreter turns it into an exit status."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _leave(code: int) -> NoReturn:
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    try:
        sys.stdout.flush()
    except Exception:
        code = code or _FLUSH_FAILED
    os._exit(code)
