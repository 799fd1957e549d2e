"""The airshift benchmark (issue #6): one command, every approach side by side.

Why one runner: ratios are only meaningful when measured in the same run on the same
database server and the same data. For each size this builds a scaled copy of a real
Airflow 2.10.5 PostgreSQL database (bench/generate.py), then times, on copies of it:

1. the floor: ``pg_dump --data-only`` to /dev/null (export) and ``pg_dump --data-only |
   psql`` into an empty schema with its indexes and constraints (load);
2. the AWS-sample approach (bench/aws_sample.py): fetchmany(5000) -> CSV -> COPY FROM;
3. the in-place path: a copy of the database (``pg_dump | psql``) plus Airflow 3.3.2's own
   ``airflow db migrate`` on it;
4. ``airshift export``, ``upgrade``, ``import`` (the upgraded archive into a real Airflow
   3.3.2 target), the whole ``airshift migrate``, and a same-version import (the 2.10.5
   archive into a fresh real 2.10.5 target);
5. the ``--jobs`` curve: ``airshift export`` and ``migrate`` at each ``--jobs`` value.

Each command runs as its own process; the runner records wall seconds, the peak RSS of
that process (``VmHWM``, polled) and of its largest descendant (``wait4``), and for
airshift the time of each pipeline step (bench/phased.py). Results are printed as a
table and written as JSON. Every database it makes is named ``bench_*`` and dropped.

    python -m bench.run --size small --size medium --out results.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psycopg
from cryptography.fernet import Fernet

from airshift import airflow_env, db
from bench import generate, report
from tests.realairflow import build

SERVER = "postgresql://postgres@127.0.0.1:5432"
AIRFLOW_3 = "3.3.2"
AIRFLOW_2 = "2.10.5"
# Work databases carry the runner's pid, so two runs (say, the CI smoke test) never collide.
WORK = f"bench_w{os.getpid()}"


@dataclass
class Measure:
    """One timed command."""

    size: str
    name: str
    seconds: float
    rows: int
    peak_rss_mb: float  # the measured process itself
    tree_rss_mb: float  # the largest process of its tree (wait4 ru_maxrss)
    command: str
    phases: dict[str, float] = field(default_factory=dict)
    timed_out: bool = False
    # The command's own report of where its time went (``seconds`` of its --json output)
    reported: dict[str, float] = field(default_factory=dict)
    # Disk the step needed, MB: source, scratch (its peak), archive, target (its growth)
    disk_mb: dict[str, float] = field(default_factory=dict)

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def url(name: str) -> str:
    return f"{SERVER}/{name}"


def _hwm_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_measured(
    cmd: list[str] | str,
    env: dict[str, str] | None = None,
    phases_file: Path | None = None,
    timeout: float | None = None,
) -> tuple[float, float, float, dict[str, float], bool, dict[str, float]]:
    """Run ``cmd`` (a list, or a shell string for pipelines); returns seconds, own peak RSS
    MB, largest-descendant peak RSS MB, the airshift step times (if ``phases_file``),
    whether it was interrupted (SIGINT, as an operator would) after ``timeout`` seconds,
    and the seconds per phase the command reported itself (``--json``'s ``seconds``)."""
    full_env = dict(os.environ if env is None else env)
    if phases_file is not None:
        phases_file.unlink(missing_ok=True)
        full_env["AIRSHIFT_BENCH_PHASES"] = str(phases_file)
        full_env["AIRSHIFT_BENCH_MERGE_STEPS"] = "1"
    shell = isinstance(cmd, str)
    t0 = time.monotonic()
    proc = subprocess.Popen(
        cmd,
        shell=shell,
        executable="/bin/bash" if shell else None,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    peak = [0]
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _hwm_kb(proc.pid))
            done.wait(0.05)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    timed_out = threading.Event()

    def stop() -> None:
        # A Python process blocked in a long query does not see SIGINT; ending its server
        # sessions makes airshift fail its query, roll back and exit, and leaves no
        # orphaned backend burning a core while the next step is measured.
        timed_out.set()
        _terminate_sessions()
        if not done.wait(60):
            proc.kill()
            _terminate_sessions()

    timer = threading.Timer(timeout, stop) if timeout else None
    if timer:
        timer.daemon = True
        timer.start()
    out_chunks: list[bytes] = []
    err_chunks: list[bytes] = []
    readers = [
        threading.Thread(target=lambda: out_chunks.append(proc.stdout.read()), daemon=True),
        threading.Thread(target=lambda: err_chunks.append(proc.stderr.read()), daemon=True),
    ]
    for r in readers:
        r.start()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.monotonic() - t0
    done.set()
    if timer:
        timer.cancel()
    for r in readers:
        r.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0 and not timed_out.is_set():
        err = b"".join(err_chunks).decode(errors="replace")[-4000:]
        raise RuntimeError(f"command failed ({proc.returncode}): {cmd}\n{err}")
    steps: dict[str, float] = {}
    if phases_file is not None and phases_file.exists():
        for line in phases_file.read_text().splitlines():
            p = json.loads(line)
            steps[p["phase"]] = steps.get(p["phase"], 0.0) + p["end"] - p["start"]
    own = peak[0] / 1024
    return seconds, own, usage.ru_maxrss / 1024, steps, timed_out.is_set(), _reported(out_chunks)


def _reported(out_chunks: list[bytes]) -> dict[str, float]:
    """The ``seconds`` an airshift command's ``--json`` report gives per phase, if any."""
    try:
        data = json.loads(b"".join(out_chunks) or b"{}")
    except ValueError:
        return {}
    return data.get("seconds") or {} if isinstance(data, dict) else {}


@dataclass
class Disk:
    """What to measure the disk use of around one command (database names, a folder)."""

    scratch: str | None = None  # a database whose peak size is polled while it runs
    archive: Path | None = None  # a folder whose size is taken afterwards
    target: str | None = None  # a database whose growth is taken


def _db_mb(name: str) -> float:
    with psycopg.connect(url(name), autocommit=True) as conn:
        row = conn.execute("SELECT pg_database_size(%s)", [name]).fetchone()
    return (row[0] if row else 0) / 1e6


def _dir_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


class _PeakSize:
    """The largest size a database reached while a command ran (polled every 0.5 s):
    the scratch grows with the load, Airflow's migrations and their rewrites."""

    def __init__(self, name: str | None) -> None:
        self.name, self.peak = name, 0.0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while self.name and not self._done.wait(0.5):
            with contextlib.suppress(psycopg.Error):
                self.peak = max(self.peak, _db_mb(self.name))

    def __enter__(self) -> _PeakSize:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()


def _terminate_sessions() -> None:
    """End every server session on this run's work databases."""
    subprocess.run(
        ["psql", "-Atq", "-d", url("postgres"), "-c",
         "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
         f"WHERE datname LIKE '{WORK}%'"],
        check=False, capture_output=True,
    )  # fmt: skip


def _name(database_url: str) -> str:
    return database_url.rsplit("/", 1)[1]


def _drop(name: str) -> None:
    if name.startswith("mysql:"):
        db.drop_database(build.MYSQL_SERVER, name.removeprefix("mysql:"))
        return
    db.drop_database(url("postgres"), name)


def _exists(name: str) -> bool:
    out = subprocess.run(
        [
            "psql",
            "-At",
            "-d",
            url("postgres"),
            "-c",
            f"SELECT 1 FROM pg_database WHERE datname = '{name}'",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip() == "1"


def _schema_copy(src: str, name: str) -> str:
    """An empty database with ``src``'s schema (tables, indexes, constraints)."""
    _drop(name)
    db.create_database(url("postgres"), name)
    subprocess.run(
        f"pg_dump --schema-only -d {url(src)} | psql -q -v ON_ERROR_STOP=1 -d {url(name)}",
        shell=True,
        check=True,
        executable="/bin/bash",
        stdout=subprocess.DEVNULL,
    )
    return url(name)


def export_command(src: str, to: Path, fernet_key: str, archive_key: str, *extra: str) -> list[str]:
    """``airshift export`` of the database ``src`` into the folder ``to``, its library steps
    timed (bench/phased.py)."""
    keys = ["--fernet-key", fernet_key, "--archive-key", archive_key]
    return [
        sys.executable,
        "-m",
        "bench.phased",
        "export",
        url(src),
        "--to",
        str(to),
        *keys,
        *extra,
    ]


def prepare_source(size: str, runs: int, reuse: bool, log) -> tuple[str, float]:
    """The template database ``bench_src_<size>``: a scaled copy of the real 2.10.5 fixture."""
    name = f"bench_src_{size}"
    fx = build.get_fixture(AIRFLOW_2, "postgresql")
    if reuse and _exists(name):
        return name, 0.0
    build.clone(fx, name)
    t0 = time.monotonic()
    generate.scale(url(name), runs, log=lambda m: log(f"  generate {m}"))
    return name, time.monotonic() - t0


def bench_size(
    size: str, runs: int, work: Path, opts: argparse.Namespace, log
) -> tuple[list[Measure], dict[str, int]]:
    """Every approach on one size; returns the measures and the source's row counts."""
    steps = set(opts.steps.split(","))
    src, gen_s = prepare_source(size, runs, opts.reuse, log)
    counts = generate.counts(url(src))
    rows = sum(counts.values())
    src_mb = _db_mb(src)
    log(f"[{size}] source {src}: {counts} ({rows} history rows; generated in {gen_s:.0f}s)")
    fx2 = build.get_fixture(AIRFLOW_2, "postgresql")
    target3 = build.get_fixture(AIRFLOW_3, "postgresql", "target")
    out: list[Measure] = []
    py = sys.executable
    phases = work / "phases.jsonl"
    akey = Fernet.generate_key().decode()
    made: list[str] = []

    def measure(
        name: str,
        cmd,
        env=None,
        timed_steps: bool = False,
        timeout: float | None = None,
        disk: Disk | None = None,
    ) -> Measure:
        log(f"[{size}] {name} ...")
        disk = disk or Disk()
        before = _db_mb(disk.target) if disk.target else 0.0
        with _PeakSize(disk.scratch) as scratch:
            s, own, tree, st, late, said = run_measured(
                cmd, env, phases if timed_steps else None, timeout
            )
        text = cmd if isinstance(cmd, str) else shlex.join(cmd)
        m = Measure(size, name, s, rows, own, tree, text, st, late, said)
        if disk != Disk():
            m.disk_mb = {"source": src_mb, "scratch": scratch.peak}
            m.disk_mb["archive"] = _dir_mb(disk.archive) if disk.archive else 0.0
            m.disk_mb["target"] = _db_mb(disk.target) - before if disk.target else 0.0
            log(f"[{size}] {name}: disk MB { ({k: round(v) for k, v in m.disk_mb.items()}) }")
        main_steps = {k: round(v, 1) for k, v in st.items() if not k.startswith("merge.")}
        log(
            f"[{size}] {name}: {s:.1f}s{' (INTERRUPTED at timeout)' if late else ''}, "
            f"{m.rows_per_s:,.0f} rows/s, {own:.0f} MB (tree {tree:.0f} MB) {main_steps or ''}"
            + (f"\n    reported by the command: {said}" if said else "")
        )
        out.append(m)
        return m

    def empty(name: str) -> str:
        name = f"{WORK}_{name}"
        made.append(name)
        _drop(name)
        return db.create_database(url("postgres"), name).replace("+psycopg", "")

    def release() -> None:
        """Drop the databases of the steps measured so far: at xlarge they do not all fit."""
        for name in made:
            _drop(name)
        made.clear()

    def fresh(kind: str, fixture: build.Fixture) -> str:
        name = f"{WORK}_{kind}"
        made.append(name)
        return build.clone(fixture, name).replace("postgresql+psycopg://", "postgresql://")

    airshift = [py, "-m", "bench.phased"]
    said = ["--json"]  # each command's report, for the seconds it gives per phase
    jobs = [int(j) for j in opts.jobs.split(",")]
    main_jobs = ["--jobs", str(jobs[-1])]
    a2, a3 = work / "archive2", work / "archive3"
    limit = opts.timeout

    def import_cmd(archive: Path, target: str, target_key: str, *extra: str) -> list[str]:
        keys = ["--archive-key", akey, "--target-fernet-key", target_key]
        return [*airshift, "import", str(archive), target, *keys, *main_jobs, *said, *extra]

    def measure_import(name: str, archive: Path, fixture: build.Fixture) -> None:
        """Into a fresh copy of ``fixture``, with a scratch database of its own."""
        tag = f"{fixture.version.replace('.', '')}_{len(out)}"
        target = fresh(f"target_{tag}", fixture)
        scratch = empty(f"scratch_{tag}")
        cmd = import_cmd(archive, target, fixture.fernet_key, "--scratch-url", scratch)
        disk = Disk(_name(scratch), None, _name(target))
        measure(name, cmd, timed_steps=True, timeout=limit, disk=disk)
        release()

    def export_cmd(to: Path, *extra: str) -> list[str]:
        return export_command(src, to, fx2.fernet_key, akey, *extra)

    def measure_migrate(name: str, target: str, *extra: str) -> None:
        """Into a fresh copy of the 3.x target, with a scratch database of its own."""
        into, scratch = fresh(target, target3), empty(f"scratch_{target}")
        keys = ["--fernet-key", fx2.fernet_key, "--target-fernet-key", target3.fernet_key]
        cmd = [*airshift, "migrate", url(src), into, *keys, "--no-pause"]
        cmd += ["--scratch-url", scratch, *said, *extra]
        disk = Disk(_name(scratch), None, _name(into))
        measure(name, cmd, timed_steps=True, timeout=limit, disk=disk)
        release()

    try:
        if "floor" in steps:
            measure(
                "floor export: pg_dump --data-only > /dev/null",
                f"pg_dump --data-only -d {url(src)} > /dev/null",
            )
            made.append(f"{WORK}_floor")
            floor = _schema_copy(src, f"{WORK}_floor")
            measure(
                "floor load: pg_dump --data-only | psql (schema with indexes)",
                f"pg_dump --data-only -d {url(src)} | psql -q -v ON_ERROR_STOP=1 -d {floor}",
            )
            release()
        if "aws" in steps:
            made.append(f"{WORK}_aws")
            aws = _schema_copy(src, f"{WORK}_aws")
            csv_dir = work / "aws_csv"
            measure(
                "aws-sample export: fetchmany(5000) -> CSV",
                [py, "-m", "bench.aws_sample", "export", url(src), str(csv_dir)],
            )
            measure(
                "aws-sample load: CSV -> COPY FROM",
                [py, "-m", "bench.aws_sample", "load", aws, str(csv_dir)],
            )
            shutil.rmtree(csv_dir, ignore_errors=True)
            release()
        if "inplace" in steps:
            inplace = empty("inplace")
            measure(
                "in-place 1/2: copy (pg_dump | psql)",
                f"pg_dump -d {url(src)} | psql -q -v ON_ERROR_STOP=1 -d {inplace}",
            )
            env3 = airflow_env.ensure(AIRFLOW_3)
            home = work / "af3home"
            home.mkdir(exist_ok=True)
            env = env3.environ(home, inplace, {"AIRFLOW__CORE__FERNET_KEY": fx2.fernet_key})
            measure(
                f"in-place 2/2: airflow {AIRFLOW_3} db migrate",
                [str(env3.path / "bin" / "airflow"), "db", "migrate"],
                env=env,
            )
            release()
        shutil.rmtree(a2, ignore_errors=True)
        shutil.rmtree(a3, ignore_errors=True)
        if "airshift" in steps:  # shorthand for the three steps of the 2.x -> 3.x path
            steps |= {"upgrade", "import", "migrate"}
        if steps & {"upgrade", "import", "same", "export", "backends"}:
            measure(
                "airshift export",
                export_cmd(a2, *main_jobs),
                timed_steps=True,
                disk=Disk(archive=a2),
            )
        if steps & {"upgrade", "import"}:
            measure(
                f"airshift upgrade --to {AIRFLOW_3} (PostgreSQL scratch)",
                [
                    *airshift,
                    "upgrade",
                    str(a2),
                    "--to",
                    AIRFLOW_3,
                    "--out",
                    str(a3),
                    "--archive-key",
                    akey,
                    "--scratch-url",
                    empty("scratch_up"),
                    *main_jobs,
                    *said,
                ],
                timed_steps=True,
                disk=Disk(f"{WORK}_scratch_up", a3),
            )
            release()
        if "import" in steps:
            measure_import(f"airshift import (upgraded archive -> {AIRFLOW_3} target)", a3, target3)
        if "migrate" in steps:
            measure_migrate(f"airshift migrate {AIRFLOW_2} -> {AIRFLOW_3}", "target2", *main_jobs)
        if "same" in steps:
            target2 = build.get_fixture(AIRFLOW_2, "postgresql", "target")
            name = f"airshift import (same version, {AIRFLOW_2} -> {AIRFLOW_2} target)"
            measure_import(name, a2, target2)
        if "backends" in steps:  # MySQL/MariaDB and SQLite: same-version import, then export
            for backend in ("mysql", "sqlite"):
                fx = build.get_fixture(AIRFLOW_2, backend, "target")
                name = f"{WORK}_{backend}"
                if backend == "mysql":
                    made.append(f"mysql:{name}")
                target = build.clone(fx, str(work / f"{name}.db") if backend == "sqlite" else name)
                measure(
                    f"airshift import, same version ({backend} target)",
                    import_cmd(a2, target, fx.fernet_key),
                    timed_steps=True,
                    timeout=limit,
                )
                d = work / f"archive_{backend}"
                measure(
                    f"airshift export ({backend} source)",
                    [*airshift, "export", target, "--to", str(d), "--fernet-key", fx.fernet_key],
                    timed_steps=True,
                )
                shutil.rmtree(d, ignore_errors=True)
        if "jobs" in steps:  # the --jobs speed-up curve
            for j in jobs:
                d = work / f"archive_j{j}"
                measure(
                    f"airshift export --jobs {j}",
                    export_cmd(d, "--jobs", str(j)),
                    timed_steps=True,
                )
                shutil.rmtree(d, ignore_errors=True)
                measure_migrate(f"airshift migrate --jobs {j}", f"target_j{j}", "--jobs", str(j))
    finally:
        for name in made:
            _drop(name)
        shutil.rmtree(a2, ignore_errors=True)
        shutil.rmtree(a3, ignore_errors=True)
    for m in out:
        m.phases = {k: round(v, 2) for k, v in m.phases.items()}
    return out, counts


def table(results: list[Measure]) -> str:
    lines = [
        "| size | step | seconds | rows/s | peak RSS MB (process) | peak RSS MB (largest in tree) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for m in results:
        lines.append(
            f"| {m.size} | {m.name} | {m.seconds:.1f} | {m.rows_per_s:,.0f} | "
            f"{m.peak_rss_mb:.0f} | {m.tree_rss_mb:.0f} |"
        )
    return "\n".join(lines)


def machine() -> dict:
    """What the numbers were measured on."""
    pg = subprocess.run(
        ["psql", "-At", "-d", url("postgres"), "-c", "SHOW server_version"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    with open("/proc/meminfo") as f:
        mem = f.readline().split()[1]
    with open("/proc/cpuinfo") as f:
        cpu = next(
            (ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")),
            platform.processor(),
        )
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "mem_gb": round(int(mem) / 1024 / 1024, 1),
        "postgresql": pg,
        "python": platform.python_version(),
        "loadavg_start": os.getloadavg(),
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Run the airshift benchmark (issue #6).")
    p.add_argument(
        "--size",
        action="append",
        help=f"one of {', '.join(generate.SIZES)} or a run count (repeatable)",
    )
    p.add_argument(
        "--steps",
        default="floor,aws,inplace,airshift,same,jobs",
        help="comma list of: floor, aws, inplace, export, upgrade, import, migrate "
        "(airshift = those three), same, backends, jobs",
    )
    p.add_argument(
        "--reuse",
        action="store_true",
        help="reuse an existing bench_src_<size> database (else rebuilt)",
    )
    p.add_argument("--keep-source", action="store_true", help="keep bench_src_<size> afterwards")
    p.add_argument("--out", type=Path, help="write results as JSON here")
    p.add_argument(
        "--timeout",
        type=float,
        default=1800,
        help="interrupt an airshift import/migrate after this many seconds (reported as such)",
    )
    p.add_argument(
        "--jobs",
        default="1,2,4",
        help="comma list of --jobs values for the `jobs` step; the last is used everywhere else",
    )
    a = p.parse_args(argv)
    sizes = a.size or ["small"]

    def log(msg: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {msg}", file=sys.stderr, flush=True)

    info = machine()
    log(f"machine: {info}")
    results: list[Measure] = []
    all_counts = {}
    with tempfile.TemporaryDirectory(prefix="airshift-bench-") as tmp:
        for size in sizes:
            runs = generate.SIZES.get(size) or int(size)
            try:
                res, all_counts[size] = bench_size(size, runs, Path(tmp), a, log)
            finally:
                if not a.keep_source:
                    _drop(f"bench_src_{size}")
            results += res
    info["loadavg_end"] = os.getloadavg()
    print(table(results))
    measured = [_as_json(m) for m in results]
    data = {"machine": info, "counts": all_counts, "results": measured}
    print()
    print(report.targets_table(data))
    print()
    print(report.phases_table(measured))
    if a.out:
        a.out.write_text(json.dumps(data, indent=1))


def _as_json(m: Measure) -> dict:
    return asdict(m) | {"rows_per_s": m.rows_per_s}


if __name__ == "__main__":
    main()
