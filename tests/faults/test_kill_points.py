"""Kill airshift at named points of export, upgrade, import and migrate; then re-run it.

What every point must show (issue #21): after the kill the source is unchanged and the
target unchanged or completely imported (pause flags aside: the next run restores them);
after the re-run of the same command, it succeeds, nothing of the killed run is left (no
scratch database for the target, no half-written archive), the source is as it was and the
target equals, row by row, a target that had one clean run (``lab.comparable``).

SIGKILL gives airshift no chance to clean up: that is the test of its transactions and of
the next run's recovery. SIGTERM must unwind (exit 130) and clean up at once.

The default run takes ``FAST`` points, chosen by a fixed seed from all of them; the others
are marked ``full`` (each point is two runs of the command, a minute or more).
"""

from __future__ import annotations

import functools
import hashlib
import json
import random
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from airshift import db
from airshift.archive import ArchiveReader
from tests.faults.lab import airshift, comparable, record, snapshot
from tests.metadata.test_import import _scratch_databases
from tests.realairflow import build

KILLER = str(Path(__file__).with_name("killer.py"))
SEED = 21
FAST = 2


@dataclass(frozen=True)
class Point:
    command: str  # export | upgrade | import | migrate
    what: str
    where: str  # MODULE:QUALNAME, wrapped by killer.py
    when: str = "before"
    nth: int = 1
    signal: str = "KILL"

    @property
    def id(self) -> str:
        return f"{self.command}-{self.where.rsplit(':', 1)[1]}-{self.when}-{self.nth}-{self.signal}"


MERGER = "airshift.metadata.merge:_Merger"
SCRATCH = "airshift.metadata.scratch"
WRITER = "airshift.archive.writer"
POINTS = [
    Point(
        "export",
        "source paused, nothing read yet",
        "airshift.metadata.pause:PauseGuard.__init__",
        "after",
    ),
    Point("export", "snapshot open, no table read", "airshift.metadata.extract:_export_tables"),
    Point("export", "third table file written", f"{WRITER}:TableSink._open_file", "after", 3),
    Point(
        "export",
        "every table read, source still paused",
        "airshift.metadata.pause:PauseGuard.release",
    ),
    Point("export", "pause restored, manifest not written", f"{WRITER}:ArchiveWriter.finish"),
    Point("upgrade", "scratch built, nothing loaded", f"{SCRATCH}:load_archive"),
    Point(
        "upgrade",
        "third table loaded into the scratch",
        f"{SCRATCH}:write_archive_table",
        "after",
        3,
    ),
    Point("upgrade", "before Airflow's own migration", f"{SCRATCH}:migrate_to"),
    Point(
        "upgrade",
        "second file of the new archive written",
        f"{WRITER}:TableSink._open_file",
        "after",
        2,
    ),
    Point("upgrade", "new archive complete but its manifest", f"{WRITER}:ArchiveWriter.finish"),
    Point("import", "scratch database created, empty", f"{SCRATCH}:build_at"),
    Point("import", "scratch built at the source's revision", f"{SCRATCH}:build_at", "after"),
    Point(
        "import",
        "third table loaded into the scratch",
        f"{SCRATCH}:write_archive_table",
        "after",
        3,
    ),
    Point("import", "before Airflow's migration to 3.x", f"{SCRATCH}:migrate_to"),
    Point("import", "scratch migrated by Airflow", f"{SCRATCH}:migrate_to", "after"),
    Point(
        "import",
        "rebuilding failed tries from task_fail",
        "airshift.metadata.losses:task_fail_to_history",
    ),
    Point(
        "import",
        "target DAGs paused, merge not begun",
        "airshift.metadata.pause:PauseGuard.__init__",
        "after",
    ),
    Point("import", "third table staged", f"{MERGER}.merge_table", "after", 3),
    Point("import", "remapping references (fifth table)", f"{MERGER}._remap", "before", 5),
    Point("import", "fourth table written", f"{MERGER}._write", "after", 4),
    Point(
        "import",
        "indexes rebuilt after a bulk insert",
        "airshift.backends.postgresql:PostgreSQL.restore",
        "after",
    ),
    Point("import", "every table written, before commit", f"{MERGER}.drop_temps", "after"),
    Point(
        "import",
        "committed, pause states not yet set",
        "airshift.metadata.pause:read_states",
        "before",
        2,
    ),
    Point(
        "import",
        "committed, scratch not yet dropped",
        "airshift.backends.base:ServerBackend.drop_database",
    ),
    Point(
        "import",
        "pause states restored, scratch not yet dropped",
        "airshift.metadata.pause:PauseGuard.release",
        "after",
    ),
    Point(
        "migrate",
        "copying logs: third log written",
        "airshift.logs.stores:FsspecStore.write",
        "after",
        3,
    ),
    Point(
        "migrate",
        "copying logs: third log written, not yet in place",
        "airshift.logs.stores:_publish",
        "before",
        3,
    ),
    Point(
        "migrate",
        "exporting: third table file written",
        f"{WRITER}:TableSink._open_file",
        "after",
        3,
    ),
    Point("migrate", "merging: third table written", f"{MERGER}._write", "after", 3),
    Point("import", "loading the scratch", f"{SCRATCH}:write_archive_table", "after", 3, "TERM"),
    Point("import", "writing into the target", f"{MERGER}._write", "after", 4, "TERM"),
    Point("export", "writing table files", f"{WRITER}:TableSink._open_file", "after", 3, "TERM"),
    Point("migrate", "copying logs", "airshift.logs.stores:FsspecStore.write", "after", 2, "TERM"),
]
_FAST = {p.id for p in random.Random(SEED).sample(POINTS, FAST)}
PARAMS = [
    pytest.param(p, id=p.id, marks=[] if p.id in _FAST else [pytest.mark.full]) for p in POINTS
]


def _killed(point: Point, args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            KILLER,
            point.where,
            point.when,
            str(point.nth),
            point.signal,
            "--",
            *args,
        ],
        capture_output=True,
        text=True,
    )


def _without_pause(rows: dict[str, list[str]]) -> dict[str, list[str]]:
    return {k: v for k, v in rows.items() if k != "dag"}


def _files(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (hidden ones too: a temporary file left behind counts)
    and a digest of its content."""
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _archive_rows(location: Path) -> dict[str, int]:
    reader = ArchiveReader(str(location))
    assert reader.verify() == []
    return {n: t.rows for n, t in reader.manifest.tables.items()}


class World:
    """A 2.10.5 PostgreSQL source and its archive; made when first asked for, that archive
    upgraded to 3.3.2 and a 3.3.2 PostgreSQL target after one clean import: what every
    re-run is held to."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.source_fx = build.get_fixture("2.10.5", "postgresql")
        self.target_fx = build.get_fixture("3.3.2", "postgresql", "target")
        self.made: list[str] = []
        self.source = self.clone(self.source_fx)
        self.archive = tmp / "archive"
        out = airshift(
            "export",
            self.source,
            "--to",
            str(self.archive),
            "--fernet-key",
            self.source_fx.fernet_key,
            "--json",
        )
        assert out.returncode == 0, out.stderr[-3000:]
        self.key = json.loads(out.stdout)["generated_archive_key"]
        self.archive_rows = _archive_rows(self.archive)

    def clone(self, fx) -> str:
        # Unique across workers and sessions: two runs of this file must not share a clone.
        name = f"reliability_{len(self.made)}_{uuid.uuid4().hex[:10]}"
        self.made.append(name)
        return build.clone(fx, name)

    def new_target(self) -> str:
        return self.clone(self.target_fx)

    @functools.cached_property
    def upgraded_rows(self) -> dict[str, int]:
        upgraded = self.tmp / "upgraded"
        up = airshift(
            "upgrade",
            str(self.archive),
            "--to",
            "3.3.2",
            "--out",
            str(upgraded),
            "--archive-key",
            self.key,
        )
        assert up.returncode == 0, up.stderr[-3000:]
        return _archive_rows(upgraded)

    @functools.cached_property
    def clean(self) -> dict[str, list[str]]:
        target = self.new_target()
        imp = airshift(
            "import",
            str(self.archive),
            target,
            "--archive-key",
            self.key,
            "--target-fernet-key",
            self.target_fx.fernet_key,
        )
        assert imp.returncode == 0, imp.stderr[-3000:]
        return comparable(target)

    def migrate_args(self, target: str, logs: Path) -> list[str]:
        """``migrate`` of the source into ``target``, its task logs into the folder ``logs``."""
        return [
            "migrate",
            self.source,
            target,
            "--fernet-key",
            self.source_fx.fernet_key,
            "--target-fernet-key",
            self.target_fx.fernet_key,
            "--logs",
            f"{self.source_fx.home}/logs={logs}",
        ]

    @functools.cached_property
    def clean_migrate(self) -> tuple[int, dict[str, str]]:
        """The exit of one clean ``migrate`` (1: some tries never wrote a log) and the log
        files it copied; its target must equal a clean import's."""
        target, logs = self.new_target(), self.tmp / "clean-logs"
        run = airshift(*self.migrate_args(target, logs))
        assert run.returncode in (0, 1), run.stderr[-3000:]
        assert comparable(target) == self.clean
        return run.returncode, _files(logs)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[World]:
    w = World(tmp_path_factory.mktemp("kill"))
    yield w
    for name in w.made:
        db.drop_database(build.PG_SERVER, name)


def _command(point: Point, w: World, target: str | None) -> tuple[list[str], Path]:
    """The command line a point interrupts, and what it writes besides the target (an
    archive, or the task logs ``migrate`` copies)."""
    tmp, key = w.tmp, w.key
    out = tmp / f"out-{point.id}"
    if point.command == "export":
        return [
            "export",
            w.source,
            "--to",
            str(out),
            "--fernet-key",
            w.source_fx.fernet_key,
            "--archive-key",
            key,
            "--pause",
        ], out
    if point.command == "upgrade":
        return [
            "upgrade",
            str(w.archive),
            "--to",
            "3.3.2",
            "--out",
            str(out),
            "--archive-key",
            key,
        ], out
    if point.command == "import":
        into = ["--target-fernet-key", w.target_fx.fernet_key]
        return ["import", str(w.archive), target, "--archive-key", key, *into], out
    return w.migrate_args(target, out), out


@pytest.mark.parametrize("point", PARAMS)
def test_killed_then_rerun_equals_a_clean_run(world, point: Point) -> None:
    target = world.new_target() if point.command in ("import", "migrate") else None
    args, out = _command(point, world, target)
    source_before = snapshot(world.source)
    target_before = comparable(target) if target else None
    killed = _killed(point, args)
    expected = -signal.SIGKILL if point.signal == "KILL" else 130
    assert killed.returncode == expected, killed.stderr[-3000:]
    # Right after the kill: the source as it was (its pause flags aside), the target
    # unchanged or completely imported (its pause flags aside).
    after = snapshot(world.source)
    assert {k: v for k, v in after.items() if k != "dag"} == {
        k: v for k, v in source_before.items() if k != "dag"
    }
    if target:
        now = _without_pause(comparable(target))
        assert now in (_without_pause(target_before), _without_pause(world.clean))
    if point.signal == "TERM":  # an interrupt cleans up at once
        assert snapshot(world.source) == source_before
        if target:
            assert _scratch_databases(target) == set()
        if point.command in ("import", "export", "upgrade"):
            assert not out.exists()
        if point.command == "import":
            assert comparable(target) == target_before
    rerun = airshift(*args)
    ok = world.clean_migrate[0] if point.command == "migrate" else 0
    assert rerun.returncode == ok, rerun.stderr[-3000:]
    assert snapshot(world.source) == source_before
    if target:
        assert _scratch_databases(target) == set()
        assert comparable(target) == world.clean
    if point.command == "migrate":  # every log copied whole, no temporary file left
        assert _files(out) == world.clean_migrate[1]
    elif point.command != "import":
        rows = world.archive_rows if point.command == "export" else world.upgraded_rows
        assert _archive_rows(out) == rows
    record(
        "kill_points",
        point=point.id,
        command=point.command,
        what=point.what,
        signal=point.signal,
        killed_exit=killed.returncode,
        rerun_exit=rerun.returncode,
    )
