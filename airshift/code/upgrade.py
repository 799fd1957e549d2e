"""``upgrade``: apply the safe fixes, show the diff, write only when asked, then check again.

Why on a copy: every fix is applied to a temporary copy of the project first (airshift's
libcst codemods, then ruff's ``AIR`` fixes; safe ones only, unless ``unsafe`` is set), each
file is re-parsed, and a file whose fixed text would not parse keeps its original text. ``check`` then runs on the copy, so the user sees
what is left before anything is written, and ``--write`` copies back exactly what was shown.
Configuration and requirements are never edited in place: translated copies are written next
to the originals (``airflow.cfg`` -> ``airflow.airflow-3.3.2.cfg``).
"""

from __future__ import annotations

import difflib
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import libcst as cst

from airshift.code import config, provider_pins, requirements
from airshift.code.check import (
    CheckOptions,
    check_laid_out,
    has_fab_provider,
    parse_requirements,
    read_sources,
)
from airshift.code.findings import Report
from airshift.code.import_check import target_env
from airshift.code.import_cleanup import drop_leftover_imports
from airshift.code.project import SKIPPED_DIRS, Project, open_project
from airshift.code.ruff_rules import apply_ruff_fixes
from airshift.code.rules import RuleContext, apply_fixes
from airshift.code.rules.base import Analysis
from airshift.code.rules.moves import imported_names
from airshift.code.sources import syntax_error
from airshift.code.target import Target, parse_target
from airshift.code.target_facts import load_target_facts
from airshift.errors import AirshiftError


@dataclass(frozen=True)
class FileChange:
    """A file the upgrade changes (Python) or creates next to the original (config)."""

    display: str  # the project-relative name of the file written
    before: str
    after: str

    def as_dict(self) -> dict[str, str]:
        return {"file": self.display, "diff": self.diff()}

    def diff(self) -> str:
        return "".join(
            difflib.unified_diff(
                self.before.splitlines(keepends=True),
                self.after.splitlines(keepends=True),
                fromfile=f"a/{self.display}",
                tofile=f"b/{self.display}",
            )
        )


@dataclass
class UpgradeResult:
    """What changed, what was written, what could not be fixed safely, and what is left."""

    changes: list[FileChange] = field(default_factory=list)
    written: bool = False
    skipped: list[str] = field(default_factory=list)  # why a file was left alone
    report: Report | None = None

    def as_dict(self) -> dict[str, object]:
        """The ``--json`` document: the changes as diffs, and the check of the fixed copy."""
        return {
            "written": self.written,
            "changes": [change.as_dict() for change in self.changes],
            "skipped": self.skipped,
            "report": self.report.as_dict() if self.report else None,
        }


def upgrade_project(
    location: str,
    target_version: str,
    write: bool = False,
    options: CheckOptions | None = None,
    unsafe: bool = False,
) -> UpgradeResult:
    """Fix the project at ``location`` for ``target_version``; write only when ``write``.

    ``unsafe`` also applies the fixes marked unsafe (airshift's and ruff's)."""
    target = parse_target(target_version)
    options = options or CheckOptions()
    with open_project(location) as project:
        if write and project.remote:
            raise AirshiftError("--write needs a local project folder; copy the project first.")
        with tempfile.TemporaryDirectory(prefix="airshift-upgrade-") as tmp:
            copy = Path(tmp) / "project"
            shutil.copytree(
                project.root, copy, symlinks=True, ignore=shutil.ignore_patterns(*SKIPPED_DIRS)
            )
            with open_project(str(copy)) as work:
                result = UpgradeResult()
                result.changes += fix_code(work, target, result.skipped, unsafe)
                result.changes += fix_config(work, target, options, unsafe)
                result.report = check_laid_out(work, target, options)
        if write:
            for change in result.changes:
                (project.root / change.display).write_text(change.after, encoding="utf-8")
            result.written = True
    return result


def fix_code(
    work: Project, target: Target, skipped: list[str], unsafe: bool = False
) -> list[FileChange]:
    """Apply airshift's codemods, then ruff's fixes, to the copy; return changed files.

    Imports the fixes made unused, or added and left unused, are removed (``import_cleanup``).
    """
    reqs = parse_requirements(work)
    fab, listed = has_fab_provider(reqs), requirements.listed(reqs)
    sources, problems = read_sources(work)
    skipped += [f"{p.file}: {p.message}" for p in problems]
    originals = {}
    for source in sources:
        if not source.file.writable:
            skipped.append(f"{source.file.display}: inside plugins.zip; fix the plugin's source.")
            continue
        fixed = apply_fixes(source.text, RuleContext(target, source.file.kind, fab, listed), unsafe)
        if syntax_error(fixed):
            skipped.append(f"{source.file.display}: the fix would not parse; left unchanged.")
            continue
        source.file.path.write_text(fixed, encoding="utf-8")
        originals[source.file.path] = source
    apply_ruff_fixes(work.root, list(originals), target, unsafe)
    changes = []
    for path, source in originals.items():
        after = path.read_text(encoding="utf-8")
        if syntax_error(after):  # ruff never should; the rule is never to write broken code
            path.write_text(source.text, encoding="utf-8")
            skipped.append(f"{source.file.display}: ruff's fix would not parse; left unchanged.")
            continue
        after = drop_leftover_imports(source.text, after)
        if after != source.text:
            path.write_text(after, encoding="utf-8")
            changes.append(FileChange(source.file.display, source.text, after))
    return changes


def fix_config(
    work: Project, target: Target, options: CheckOptions, unsafe: bool = False
) -> list[FileChange]:
    """Translated copies of config files and requirements.txt, named for the target.

    The copy in the work folder is overwritten with the translation, so the re-check sees the
    result; the change is reported under the translated file's name. Requirements that bring
    back provider classes the code imports (AS161) are written in, into a new
    ``requirements.airflow-TARGET.txt`` when the project has no requirements.txt.
    """
    reqs = parse_requirements(work)
    sources = [p for p in [work.airflow_cfg, *work.option_files] if p]
    changes: list[FileChange] = []
    if sources:
        env, _ = target_env(target, [], options.log)
        facts = load_target_facts(env)
        options_by_file: dict[Path, list[config.Option]] = {}
        for option in config.read_options(work):
            options_by_file.setdefault(option.file, []).append(option)
        for path in sources:
            text = config.translate(path, options_by_file.get(path, []), facts, target.version)
            if text is None:
                continue
            if path == work.airflow_cfg:
                config.validate_cfg(text)
            changes += filter(None, [_translated(work, path, text, target)])
    added = provider_pins.needed(imported_classes(work), target)
    text = requirements.translated(reqs, target, added, unsafe)
    if text is not None:
        path = reqs.path if reqs else work.root / "requirements.txt"
        changes += filter(None, [_translated(work, path, text, target)])
        work.requirements = path  # the re-check installs and checks what was written
    return changes


def imported_classes(work: Project) -> set[str]:
    """Every ``module.Name`` the project's Python files import from ``airflow...``."""
    sources, _ = read_sources(work)
    return {
        name
        for source in sources
        for _, name in imported_names(Analysis(cst.parse_module(source.text)))
    }


def _translated(work: Project, path: Path, text: str, target: Target) -> FileChange | None:
    """The translated copy as a change, or None when the project already holds exactly it
    (a second ``--write`` writes nothing)."""
    before = path.read_text(encoding="utf-8") if path.exists() else ""
    path.write_text(text, encoding="utf-8")
    new_name = config.translated_name(path, target.version)
    if new_name.exists() and new_name.read_text(encoding="utf-8") == text:
        return None
    return FileChange(work.display(new_name), before, text)
