"""Allocator settings that keep airshift's peak memory flat (docs/benchmarks.md, "Memory").

Why: airshift's threads (``--jobs`` readers and loaders, each with a CSV producer) pass
large, short-lived buffers around. glibc gives every thread its own malloc arena and
keeps what is freed in each, and pyarrow's default allocator (mimalloc) keeps freed
memory per thread too; together they made peak RSS grow with ``--jobs`` and with the
size of the database. Both settings are process-wide and must be made before the first
thread or Arrow allocation, so they are applied when the package is imported; an
``ARROW_DEFAULT_MEMORY_POOL``, ``MALLOC_ARENA_MAX`` or ``MALLOC_MMAP_THRESHOLD_`` the user
sets wins.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

# glibc's mallopt parameters, and the environment variables that set them at start-up.
_MALLOPT = {"MALLOC_ARENA_MAX": -8, "MALLOC_MMAP_THRESHOLD_": -3}


def bound_allocators(arenas: int = 2, mmap_threshold: int = 1 << 20) -> None:
    """Arrow on the system allocator; glibc with at most ``arenas`` arenas, and buffers of
    ``mmap_threshold`` bytes or more mapped and unmapped on their own. A fixed threshold
    also stops glibc from raising it after the first large free, after which multi-MB
    batches came from the heap and fragmented it (export at medium: 235 -> 207 MB)."""
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
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
