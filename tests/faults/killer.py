"""Run the airshift CLI, sending this process a signal at one named point of its work.

    python killer.py MODULE:QUALNAME before|after NTH SIGNAL -- AIRSHIFT ARGS...

The function ``QUALNAME`` of ``MODULE`` (a class attribute such as ``PauseGuard.__init__``
too) is wrapped: at its NTH call the process sends itself SIGNAL (KILL, TERM), before the
call or after it returns. Patching the name where callers look it up is the caller's job:
a function imported with ``from x import f`` is patched in the importing module.
"""

from __future__ import annotations

import functools
import importlib
import os
import signal
import sys


def _arm(where: str, when: str, nth: int, signum: int) -> None:
    module_name, qualname = where.split(":")
    owner = importlib.import_module(module_name)
    *path, name = qualname.split(".")
    for part in path:
        owner = getattr(owner, part)
    original = getattr(owner, name)
    calls = 0

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == nth and when == "before":
            os.kill(os.getpid(), signum)
        result = original(*args, **kwargs)
        if calls == nth and when == "after":
            os.kill(os.getpid(), signum)
        return result

    setattr(owner, name, wrapper)


def main() -> None:
    where, when, nth, sig, dashes, *args = sys.argv[1:]
    assert dashes == "--" and when in ("before", "after")
    _arm(where, when, int(nth), getattr(signal, f"SIG{sig}"))
    from airshift.cli import main as airshift

    sys.argv = ["airshift", *args]
    airshift()


if __name__ == "__main__":
    main()
