"""Installing, describing, removing and bundling the virtualenvs Airflow releases run in.

Why uv: it is the one installer that resolves "as of a date" (``--exclude-newer``, the rule in
``releases.py``), it builds the dozen runtimes a test run needs in seconds from its cache,
and it ships as a wheel (the ``uv`` dependency), so no separate tool must be installed.

Every runtime carries a stamp (``.airshift-runtime.json``, written last, so a half-made
runtime is never mistaken for a complete one) saying how it was resolved, from where, and
what it holds: ``airshift runtimes list`` reads it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

from airshift.errors import AirshiftError
from airshift.runtimes.releases import Resolution
from airshift.tools import UV, binary

STAMP = ".airshift-runtime.json"
LEGACY_MARKER = ".airshift-complete"  # what runtimes made before the rule carried
BYTECODE = "bytecode_compiled"  # the stamp's mark: every module compiled (_compile_bytecode)
WHEELHOUSE_SPEC = "airshift-wheelhouse.json"
WHEELHOUSE_PINS = "requirements.txt"
Log = Callable[[str], object]


def uv_binary() -> str:
    """The uv that came with airshift (the ``uv`` package), else one on PATH; checked."""
    return binary(UV)


def python_tag() -> str:
    """The interpreter runtimes are made with (airshift's own): part of a runtime's name."""
    return f"{sys.implementation.name}{sys.version_info.major}.{sys.version_info.minor}"


def exempt_extras(extras: Sequence[str]) -> list[str]:
    """Extras pinned exactly (``pkg==1.2``) are the user's explicit choice, possibly newer
    than the Airflow release: they are exempt from its cut-off; anything looser follows it."""
    names = []
    for spec in extras:
        try:
            req = Requirement(spec)
        except InvalidRequirement:
            continue
        if any(s.operator in ("==", "===") for s in req.specifier):
            names.append(req.name)
    return names


def run_tool(cmd: list[str], what: str, stdin: str | None = None) -> str:
    """Run uv or pip; a failure is an AirshiftError ending with the tool's last lines, run
    together into the one paragraph every airshift error is (the tool's own line breaks
    and ``error:`` prefixes would read as several errors)."""
    proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()[-25:]
        tail = " ".join(line.strip().removeprefix("error: ") for line in lines if line.strip())
        raise AirshiftError(f"Could not {what}: {tail}")
    return proc.stdout


def _resolve_flags(resolution: Resolution, exempt: Sequence[str]) -> list[str]:
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    flags = ["--exclude-newer", resolution.cutoff_text]
    for name in exempt:
        flags += ["--exclude-newer-package", f"{name}={now}"]
    return flags


@dataclass(frozen=True)
class Runtime:
    """One runtime folder in the cache, as its stamp describes it (None: no stamp)."""

    path: Path
    stamp: dict | None

    @property
    def complete(self) -> bool:
        return self.stamp is not None

    @property
    def state(self) -> str:
        """complete; legacy (made without a resolution rule: never reused); or incomplete."""
        if self.complete:
            return "complete"
        return "legacy" if (self.path / LEGACY_MARKER).exists() else "incomplete"

    @property
    def version(self) -> str:
        if self.stamp:
            return str(self.stamp["version"])
        return self.path.name.removeprefix("apache-airflow-").split("-")[0]

    def size(self) -> int:
        return sum(
            p.stat().st_size for p in self.path.rglob("*") if p.is_file() and not p.is_symlink()
        )

    def as_dict(self) -> dict:
        stamp = self.stamp or {}
        return {
            "version": self.version,
            "path": str(self.path),
            "state": self.state,
            "bytes": self.size(),
            "rule": stamp.get("rule"),
            "cutoff": stamp.get("cutoff"),
            "source": stamp.get("source"),
            "python": stamp.get("python"),
            "requirements": stamp.get("requirements", []),
            "packages": len(stamp.get("packages", {})),
            "installed_at": stamp.get("installed_at"),
        }


def read(path: Path) -> Runtime:
    stamp_path = path / STAMP
    stamp = json.loads(stamp_path.read_text()) if stamp_path.exists() else None
    return Runtime(path, stamp)


def _freeze(python: Path) -> dict[str, str]:
    out = run_tool([uv_binary(), "pip", "freeze", "--python", str(python)], "list the runtime")
    pins = {}
    for line in out.splitlines():
        name, sep, version = line.partition("==")
        if sep:
            pins[name] = version
    return pins


def install(
    path: Path,
    requirements: Sequence[str],
    resolution: Resolution,
    exempt: Sequence[str] = (),
    wheelhouse: Path | None = None,
    log: Log = print,
) -> Runtime:
    """Make the runtime at ``path``: a new virtualenv, ``requirements`` resolved by the rule
    (or taken from a wheelhouse with no index at all), then the stamp. A failure leaves
    nothing behind."""
    shutil.rmtree(path, ignore_errors=True)
    uv = uv_binary()
    where = f"the wheelhouse {wheelhouse}" if wheelhouse else f"as of {resolution.cutoff_text}"
    log(f"installing {' '.join(requirements)} ({where}) into {path} (once; it is cached)")
    python = path / "bin" / "python"
    if wheelhouse:
        source = f"wheelhouse {wheelhouse}"
        install_args = [
            "--offline",
            "--no-index",
            "--find-links",
            str(wheelhouse),
            "-r",
            str(wheelhouse / WHEELHOUSE_PINS),
        ]
    else:
        source = "index"
        install_args = [*_resolve_flags(resolution, exempt), *requirements]
    try:
        run_tool([uv, "venv", "-q", "-p", sys.executable, str(path)], f"create {path}")
        run_tool(
            [uv, "pip", "install", "-q", "--python", str(python), *install_args],
            f"install {' '.join(requirements)} ({where})",
        )
        stamp = {
            "version": resolution.version,
            "requirements": list(requirements),
            "rule": resolution.rule,
            "cutoff": resolution.cutoff_text,
            "release_data": "shipped" if resolution.from_data else "looked up at the index",
            "exempt_from_cutoff": list(exempt),
            "python": python_tag(),
            "source": source,
            "installed_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "packages": _freeze(python),
        }
        _compile_bytecode(path)
        _write_stamp(path, stamp)
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)
        raise
    return Runtime(path, stamp)


def _compile_bytecode(path: Path) -> None:
    """Compile every module of the runtime ahead of its first use.

    Why: uv installs no bytecode, and where ``PYTHONDONTWRITEBYTECODE`` is set (container
    images often set it) Python never writes any, so every Airflow process compiled its
    ~1,900 modules again before it did anything: most of the seconds a migration of a
    near-empty scratch database takes (a cutover's delta, docs/benchmarks.md). A module
    that does not compile (a template shipped as ``.py``) is left for the import to
    report, as it would without this."""
    python = path / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "compileall", "-q", "-j", "0", str(path / "lib")],
        capture_output=True,
        check=False,
    )


def ensure_bytecode(path: Path) -> None:
    """Compile a complete runtime made before runtimes carried their bytecode, once."""
    runtime = read(path)
    if runtime.stamp is None or runtime.stamp.get(BYTECODE):
        return
    _compile_bytecode(path)
    _write_stamp(path, runtime.stamp)


def _write_stamp(path: Path, stamp: dict) -> None:
    """The stamp, written last: it says the runtime is complete and compiled."""
    (path / STAMP).write_text(json.dumps(stamp | {BYTECODE: True}, indent=1, sort_keys=True))


def download(
    requirements: Sequence[str],
    resolution: Resolution,
    dest: Path,
    exempt: Sequence[str] = (),
    log: Log = print,
) -> dict:
    """Make a wheelhouse in ``dest`` for a machine without an index: the pins the rule
    resolves to for this Python and platform, every one as a wheel (sdists are built here,
    where build tools can still be downloaded), and a spec naming the resolution."""
    dest.mkdir(parents=True, exist_ok=True)
    uv = uv_binary()
    pins = dest / WHEELHOUSE_PINS
    log(f"resolving {' '.join(requirements)} as of {resolution.cutoff_text}")
    run_tool(
        [
            uv,
            "pip",
            "compile",
            "-q",
            "--no-header",
            "--python",
            sys.executable,
            *_resolve_flags(resolution, exempt),
            "-o",
            str(pins),
            "-",
        ],
        f"resolve {' '.join(requirements)}",
        stdin="\n".join(requirements),
    )
    with tempfile.TemporaryDirectory(prefix="airshift-pip-") as tmp:
        # pip, not uv, fetches the files: uv has no download command, and `pip wheel` both
        # downloads wheels and builds the few sdists into wheels in one step.
        run_tool([uv, "venv", "-q", "--seed", "-p", sys.executable, tmp], "create a helper venv")
        log(f"downloading and building wheels into {dest}")
        run_tool(
            [f"{tmp}/bin/pip", "wheel", "-q", "--no-deps", "-r", str(pins), "-w", str(dest)],
            "download the wheels",
        )
    spec = {
        "version": resolution.version,
        "requirements": list(requirements),
        "rule": resolution.rule,
        "uploaded": resolution.uploaded.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "exempt_from_cutoff": list(exempt),
        "python": python_tag(),
        "wheels": sorted(p.name for p in dest.glob("*.whl")),
    }
    (dest / WHEELHOUSE_SPEC).write_text(json.dumps(spec, indent=1, sort_keys=True))
    return spec


def wheelhouse_spec(folder: Path) -> dict:
    """The spec ``download`` wrote, checked against this machine's Python."""
    path = folder / WHEELHOUSE_SPEC
    if not path.exists():
        raise AirshiftError(
            f"{folder} is not a wheelhouse made by `airshift runtimes download` "
            f"(no {WHEELHOUSE_SPEC} there)."
        )
    spec = json.loads(path.read_text())
    if spec.get("python") != python_tag():
        raise AirshiftError(
            f"The wheelhouse {folder} was made for {spec.get('python')}, and airshift runs on "
            f"{python_tag()} here: make it with the same Python version."
        )
    return spec
