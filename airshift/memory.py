"""Allocator settings that keep airshift's peak memory flat (docs/benchmarks.md, "Memory").

Why: airshift's threads (``--jobs`` readers and loaders, each with a CSV producer) pass
large, short-lived buffers around. glibc gives every thread its own malloc arena and
keeps what is freed in each, and Arrow's default allocator (mimalloc) keeps freed
memory per thread too, in a 1 GB arena whose freed pages still count as resident; together
they made peak RSS grow with ``--jobs`` and with the size of the database. These settings
are process-wide and belong to the program, not to a library it imports: the ``airshift``
command makes them first thing (``airshift.program.run``), before pyarrow is loaded and
before any thread or large allocation; a program that uses airshift as a
library makes them itself if it wants the same. An ``ARROW_DEFAULT_MEMORY_POOL``,
``MALLOC_ARENA_MAX`` or ``MALLOC_MMAP_THRESHOLD_`` the user sets wins.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from collections.abc import MutableMapping

# glibc's mallopt parameters, and the environment variables that set them at start-up.
_MALLOPT = {"MALLOC_ARENA_MAX": -8, "MALLOC_MMAP_THRESHOLD_": -3}


def arrow_on_system_pool(env: MutableMapping[str, str] = os.environ) -> None:
    """Arrow's C++ code (the Parquet reader and writer, the CSV writer) on the system
    allocator. Arrow reads ``ARROW_DEFAULT_MEMORY_POOL`` once, when pyarrow is loaded, and
    ``pa.set_memory_pool`` changes only the pool pyarrow's Python functions default to: so
    this must run before the first ``import pyarrow``, in this process's environment or
    in the one a new process is started with (``env``). Measured (a medium export, --jobs 2):
    held after the export 177 MB against 252 MB, peak 193 against 268."""
    env.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")


def bound_allocators(arenas: int = 2, mmap_threshold: int = 1 << 20) -> None:
    """pyarrow's Python-level pool on the system allocator (for a caller that loaded pyarrow
    before ``arrow_on_system_pool``: Arrow's C++ code keeps the pool it started with);
    glibc with at most ``arenas`` arenas, and buffers of
    ``mmap_threshold`` bytes or more mapped and unmapped on their own. A fixed threshold
    also stops glibc from raising it after the first large free, after which multi-MB
    batches came from the heap and fragmented it (export at medium: 235 -> 207 MB)."""
    import pyarrow as pa  # after ``arrow_on_system_pool``, where the program calls it

    if "ARROW_DEFAULT_MEMORY_POOL" not in os.environ:
        pa.set_memory_pool(pa.system_memory_pool())
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        for env, value in (
            ("MALLOC_ARENA_MAX", arenas),
            ("MALLOC_MMAP_THRESHOLD_", mmap_threshold),
        ):
            if env not in os.environ:
                libc.mallopt(_MALLOPT[env], value)
    except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to bound
        pass
