"""Copy the log of every indexed try from one store to another, file by file.

Why per-file outcomes instead of exceptions: one unreadable or oddly named log must not
stop thousands of others, and must not vanish either (the AWS sample swallows errors).
Each try gets a :class:`FileResult`; the report says what failed and why, and a caller
(CLI, ``airshift migrate``) turns "anything failed" into a non-zero exit.

Safety: a log already present with the same content is skipped (so an interrupted copy
resumes where it stopped); one with different content is a conflict unless
``overwrite`` is set.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from enum import Enum
from itertools import chain
from typing import Any

from airshift.logs.index import TaskTry
from airshift.logs.naming import MalformedName, Naming
from airshift.logs.stores import LogStore, open_store


class Status(str, Enum):
    COPIED = "copied"
    SKIPPED = "skipped"  # already present with the same content
    WOULD_COPY = "would-copy"  # dry run
    PRESENT = "present"  # dry run: target exists with the same size
    CONFLICT = "conflict"  # target exists with other content, no --overwrite
    MISSING = "missing"
    ABSENT = "absent"  # no log and no metadata row for the try: nothing is lost
    PERMISSION = "permission-denied"
    MALFORMED = "malformed-name"
    COLLISION = "name-collision"
    ERROR = "error"


FAILURES = frozenset(
    {
        Status.CONFLICT,
        Status.MISSING,
        Status.PERMISSION,
        Status.MALFORMED,
        Status.COLLISION,
        Status.ERROR,
    }
)


@dataclass(frozen=True)
class FileResult:
    """What happened to the log of one try."""

    task_try: str
    status: Status
    source: str | None = None
    target: str | None = None
    bytes: int = 0
    message: str = ""
    recorded: bool = True  # False: a try no metadata row names (see TaskTry.recorded)


@dataclass
class CopyOptions:
    """How to name each side and how to copy. The defaults suit an upgraded metadata DB:
    both sides use each run's recorded template, the target rendered as Airflow 3 does."""

    source_naming: Naming = field(default_factory=lambda: Naming(airflow_major=2))
    target_naming: Naming = field(default_factory=lambda: Naming(airflow_major=3))
    jobs: int = 4
    overwrite: bool = False
    dry_run: bool = False
    on_result: Callable[[FileResult], None] | None = None


@dataclass
class CopyReport:
    """Every file's outcome, plus the totals people and automation look at."""

    dry_run: bool
    results: list[FileResult] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        return dict(Counter(r.status.value for r in self.results))

    @property
    def bytes(self) -> int:
        """Bytes copied (or, in a dry run, that would be copied)."""
        return sum(r.bytes for r in self.results if r.status in (Status.COPIED, Status.WOULD_COPY))

    @property
    def failures(self) -> list[FileResult]:
        return [r for r in self.results if r.status in FAILURES]

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def unrecorded_found(self) -> int:
        """Logs found for tries that no metadata row names: copied, and counted here."""
        return sum(1 for r in self.results if not r.recorded and r.status != Status.ABSENT)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "ok": self.ok,
            "files": len(self.results),
            "bytes": self.bytes,
            "counts": self.counts,
            "unrecorded_tries_with_logs": self.unrecorded_found,
            "results": [asdict(r) | {"status": r.status.value} for r in self.results],
        }


def _digest(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


_Job = tuple[TaskTry, str, str]


def _plan_names(
    index: Iterable[TaskTry], source: LogStore, target: LogStore, options: CopyOptions
) -> tuple[list[_Job], list[FileResult]]:
    """Name both sides of every try up front, so that tries that would share a log (a
    layout without map_index or run_id, say) are reported instead of mixed up."""
    jobs: list[_Job] = []
    refused: list[FileResult] = []
    for item in index:
        try:
            jobs.append(
                (
                    item,
                    source.name_for(options.source_naming.relpath(item)),
                    target.name_for(options.target_naming.relpath(item)),
                )
            )
        except MalformedName as exc:
            refused.append(FileResult(item.label(), Status.MALFORMED, message=str(exc)))
    sources, targets = Counter(j[1] for j in jobs), Counter(j[2] for j in jobs)
    shared = [job for job in jobs if sources[job[1]] > 1 or targets[job[2]] > 1]
    for item, src, dst in shared:
        message = (
            "another try of the metadata has the same log name (the layout cannot tell them apart)"
        )
        refused.append(FileResult(item.label(), Status.COLLISION, src, dst, message=message))
    shared_ids = {id(job) for job in shared}
    return [job for job in jobs if id(job) not in shared_ids], refused


class _Copier:
    def __init__(self, source: LogStore, target: LogStore, options: CopyOptions) -> None:
        self.source, self.target, self.options = source, target, options

    def __call__(self, job: _Job) -> FileResult:
        item, src, dst = job
        label = item.label()
        try:
            status, size, message = (self.plan if self.options.dry_run else self.copy)(
                src, dst, item
            )
        except FileNotFoundError as exc:
            if not item.recorded:
                message = "no log, and no metadata row says this try ran"
                return FileResult(label, Status.ABSENT, src, dst, message=message, recorded=False)
            return FileResult(label, Status.MISSING, src, dst, message=str(exc))
        except PermissionError as exc:
            return FileResult(label, Status.PERMISSION, src, dst, message=str(exc))
        except Exception as exc:  # any other failure of one file must not stop the rest
            return FileResult(label, Status.ERROR, src, dst, message=f"{type(exc).__name__}: {exc}")
        return FileResult(label, status, src, dst, size, message, recorded=item.recorded)

    def plan(self, src: str, dst: str, item: TaskTry) -> tuple[Status, int, str]:
        size = self.source.size(src)
        if size is None:
            raise FileNotFoundError(f"no log at {src}")
        existing = self.target.size(dst)
        if existing is None:
            return Status.WOULD_COPY, size, ""
        if existing == size:
            return Status.PRESENT, 0, "target exists with the same size"
        if self.options.overwrite:
            return Status.WOULD_COPY, size, f"would replace a different log ({existing} bytes)"
        return Status.CONFLICT, 0, f"target exists with {existing} bytes, source has {size}"

    def copy(self, src: str, dst: str, item: TaskTry) -> tuple[Status, int, str]:
        data = self.source.read(src)
        existing = self.target.size(dst)
        if existing is not None:
            stored = self.target.stored_form(data)
            if existing == len(stored) and _digest(self.target.read(dst)) == _digest(stored):
                return Status.SKIPPED, 0, "already present with the same content"
            if not self.options.overwrite:
                return Status.CONFLICT, 0, "target exists with different content (--overwrite)"
        self.target.write(dst, data, item.start_date, replace=existing is not None)
        return Status.COPIED, len(data), ""


def _bounded_map(fn: Callable[[_Job], FileResult], items: Iterable[_Job], jobs: int):
    """Results as they complete, with at most ``2 * jobs`` tries in flight (bounded memory)."""
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        pending: set[Future[FileResult]] = set()
        for item in items:
            pending.add(pool.submit(fn, item))
            if len(pending) >= 2 * jobs:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                yield from (f.result() for f in done)
        for future in pending:
            yield future.result()


def copy_logs(
    index: Iterable[TaskTry],
    source: LogStore | str,
    target: LogStore | str,
    options: CopyOptions | None = None,
) -> CopyReport:
    """Copy the logs of the tries in ``index`` from ``source`` to ``target``.

    The entry point for ``airshift logs copy`` and for ``airshift migrate --logs``.
    """
    options = options or CopyOptions()
    source = open_store(source) if isinstance(source, str) else source
    target = open_store(target) if isinstance(target, str) else target
    report = CopyReport(dry_run=options.dry_run)
    jobs, refused = _plan_names(index, source, target, options)
    results: Iterator[FileResult] = _bounded_map(
        _Copier(source, target, options), jobs, max(1, options.jobs)
    )
    for result in chain(refused, results):
        report.results.append(result)
        if options.on_result:
            options.on_result(result)
    report.results.sort(key=lambda r: (r.source or "", r.task_try))
    return report
