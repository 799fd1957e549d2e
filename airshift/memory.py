"""Allocator settings that keep airshift's peak memory flat (docs/benchmarks.md, "Memory").

Why: airshift's threads (``--jobs`` readers and loaders, each with a CSV producer) pass
large, short-lived buffers around. glibc gives every thread its own malloc arena and
keeps what is freed in each, and pyarrow's default allocator (mimalloc) keeps freed
memory per thread too; together they made peak RSS grow with ``--jobs`` and with the
size of the database. Both settings are process-wide and must be made before the first
thread or Arrow allocation, so they are applied when the package is imported; an
``ARROW_DEFAULT_MEMORY_POOL`` or ``MALLOC_ARENA_MAX`` the user sets wins.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

_M_ARENA_MAX = -8  # glibc's mallopt parameter number


def bound_allocators(arenas: int = 2) -> None:
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
    if "MALLOC_ARENA_MAX" in os.environ:
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(_M_ARENA_MAX, arenas)
    except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to bound
        pass
