"""airshift: move Apache Airflow deployments without losing anything."""

import os

# Arrow allocates through the system allocator in airshift: pyarrow's default (mimalloc)
# keeps freed memory per thread, so peak RSS grew with --jobs and with the database's
# size (docs/benchmarks.md, "Memory"). Set before pyarrow is first used; a value the
# user sets wins.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")

__version__ = "0.1.0"
