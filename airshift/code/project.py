"""Finding the parts of a project: DAG folder, plugins, requirements and configuration.

Why conventions rather than flags: an MWAA environment's bucket, a Docker local runner and a
self-managed deployment all lay these out the same way (``dags/``, ``plugins/`` or
``plugins.zip``, ``requirements.txt``), so ``check PROJECT`` works without further options.
Configuration comes as ``airflow.cfg`` or as a file of options, one ``section.key=value``
(MWAA's "Airflow configuration options") or ``AIRFLOW__SECTION__KEY=value`` per line, named
``*.env``, ``*.properties`` or ``*options*.txt``. An object-store URL is copied to a
temporary folder first (fsspec), so every later step works on local files.
"""

from __future__ import annotations

import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from airshift.code.findings import Finding, Severity
from airshift.errors import AirshiftError

OPTION_FILE_PATTERNS = ("*.env", "*.properties", "*options*.txt")
SKIPPED_DIRS = {"__pycache__", ".git", ".venv", "venv", "node_modules", ".ruff_cache"}


@dataclass(frozen=True)
class PythonFile:
    """A Python file of the project: where it is, how to name it, what role it plays."""

    path: Path
    display: str  # project-relative name shown in findings
    kind: str  # "dag" or "plugin"
    writable: bool = True  # False inside plugins.zip or a remote project


@dataclass
class Project:
    """The local view of a project, with problems found while laying it out."""

    root: Path
    dags: Path | None = None
    plugins: Path | None = None
    plugins_zip: Path | None = None
    requirements: Path | None = None
    airflow_cfg: Path | None = None
    option_files: list[Path] = field(default_factory=list)
    problems: list[Finding] = field(default_factory=list)
    remote: bool = False

    def display(self, path: Path) -> str:
        """Project-relative name of a local file (plugins.zip members as ``plugins.zip:NAME``)."""
        if self.plugins_zip and self.plugins and path.is_relative_to(self.plugins):
            return f"plugins.zip:{path.relative_to(self.plugins).as_posix()}"
        return path.relative_to(self.root).as_posix()

    def python_files(self) -> list[PythonFile]:
        """Every ``*.py`` file of the DAG folder and the plugins, in a stable order."""
        files = []
        for kind, folder in (("dag", self.dags), ("plugin", self.plugins)):
            if folder is None:
                continue
            for path in sorted(_walk_py(folder)):
                if kind == "dag" and self.plugins and path.is_relative_to(self.plugins):
                    continue
                writable = not self.remote and not (kind == "plugin" and self.plugins_zip)
                files.append(PythonFile(path, self.display(path), kind, writable))
        return files


def _walk_py(folder: Path) -> Iterator[Path]:
    for path in folder.rglob("*.py"):
        if not SKIPPED_DIRS.intersection(path.relative_to(folder).parts):
            yield path


@contextmanager
def open_project(location: str) -> Iterator[Project]:
    """Lay out the project at a folder or object-store URL; temporary copies are removed after."""
    with tempfile.TemporaryDirectory(prefix="airshift-project-") as tmp:
        remote = "://" in location
        root = _fetch(location, Path(tmp) / "project") if remote else Path(location).resolve()
        if not root.is_dir():
            raise AirshiftError(f"Project {location!r} is not a folder.")
        yield _lay_out(root, Path(tmp), remote)


def _fetch(url: str, dest: Path) -> Path:
    import fsspec

    try:
        fs, path = fsspec.core.url_to_fs(url)
        fs.get(path.rstrip("/") + "/", str(dest), recursive=True)
    except Exception as exc:  # any backend error means the user's URL or credentials
        raise AirshiftError(f"Could not copy project {url!r}: {exc}") from exc
    return dest


def _lay_out(root: Path, tmp: Path, remote: bool) -> Project:
    project = Project(root=root, remote=remote)
    project.dags = root / "dags" if (root / "dags").is_dir() else root
    if (root / "plugins").is_dir():
        project.plugins = root / "plugins"
    elif (root / "plugins.zip").is_file():
        project.plugins_zip = root / "plugins.zip"
        project.plugins = _unzip_plugins(project, tmp / "plugins")
    requirements = [root / "requirements.txt", project.dags / "requirements.txt"]
    project.requirements = next((p for p in requirements if p.is_file()), None)
    if (root / "airflow.cfg").is_file():
        project.airflow_cfg = root / "airflow.cfg"
    project.option_files = sorted(
        {p for pattern in OPTION_FILE_PATTERNS for p in root.glob(pattern) if p.is_file()}
    )
    return project


def _unzip_plugins(project: Project, dest: Path) -> Path | None:
    """Extract plugins.zip; an unreadable archive is a finding, not a crash."""
    assert project.plugins_zip is not None
    try:
        with zipfile.ZipFile(project.plugins_zip) as archive:
            archive.extractall(dest)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        project.problems.append(
            Finding(
                file="plugins.zip",
                line=0,
                rule="AS001",
                severity=Severity.BREAKS,
                message=f"plugins.zip cannot be read ({exc}); Airflow will load no plugins from it.",
                source="project",
            )
        )
        return None
    return dest
