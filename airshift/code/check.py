"""``check``: every finding for a project on a target version, from all sources at once.

Why one orchestrator: the sources need each other. The requirements decide which target
virtualenv the DAGs are imported in and whether plugin UI rules see the FAB provider; the
target venv answers for configuration and provider minimums; airshift's rules make some ruff
diagnostics redundant at the same line. The upgrade re-runs ``check_laid_out`` on its copy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from packaging.utils import canonicalize_name

from airshift.code import config, requirements
from airshift.code.findings import Finding, Report
from airshift.code.import_check import import_check, target_env
from airshift.code.project import Project, open_project
from airshift.code.ruff_rules import ruff_findings
from airshift.code.rules import RuleContext, check_source
from airshift.code.sources import Source, read_source
from airshift.code.target import Target, parse_target
from airshift.code.target_facts import load_target_facts


def _quiet(message: str) -> None:
    """Default log: say nothing (the CLI passes a function that prints to stderr)."""


@dataclass(frozen=True)
class CheckOptions:
    """Which of the slower, target-venv based steps to run."""

    import_check: bool = True  # DagBag import in the target venv
    resolve: bool = True  # dry-run resolve of requirements.txt
    log: Callable[[str], None] = field(default=_quiet)


def check_project(
    location: str, target_version: str, options: CheckOptions | None = None
) -> Report:
    """Check the project at a folder or object-store URL against Airflow ``target_version``."""
    target = parse_target(target_version)
    with open_project(location) as project:
        return check_laid_out(project, target, options or CheckOptions())


def read_sources(project: Project) -> tuple[list[Source], list[Finding]]:
    """Parseable Python files of the project, and findings for the ones that are not."""
    sources: list[Source] = []
    problems: list[Finding] = []
    for file in project.python_files():
        result = read_source(file)
        if isinstance(result, Source):
            sources.append(result)
        else:
            problems.append(result)
    return sources, problems


def parse_requirements(project: Project) -> requirements.RequirementsFile | None:
    """The project's requirements.txt, parsed, or None when it has none."""
    if project.requirements is None:
        return None
    return requirements.parse(project.requirements, project.display(project.requirements))


def has_fab_provider(reqs: requirements.RequirementsFile | None) -> bool:
    """Whether Flask/FAB plugin views can still load (through the FAB provider)."""
    return reqs is not None and any(
        canonicalize_name(line.requirement.name) == "apache-airflow-providers-fab"
        for line in reqs.lines
    )


def check_laid_out(project: Project, target: Target, options: CheckOptions) -> Report:
    """All findings for an already laid-out project."""
    report = Report(target.version)
    if target.note:
        report.notes.append(target.note)
    report.findings += project.problems
    reqs = parse_requirements(project)
    sources, problems = read_sources(project)
    report.findings += problems
    report.files = [f.display for f in project.python_files()]
    report.findings += code_findings(project, sources, target, reqs)

    needs_target = options.import_check or reqs or project.airflow_cfg or project.option_files
    if not needs_target:
        return report
    options.log(f"preparing Airflow {target.version} (cached after the first run)")
    install = reqs.install_args if reqs and options.import_check else []
    env, notes = target_env(target, install, options.log)
    report.notes += notes
    facts = load_target_facts(env)
    stale = requirements.stale_environment(reqs, facts["installed"]) if reqs and install else []
    if stale:
        report.notes.append(
            f"The cached environment {env.path} does not match the requirements "
            f"({'; '.join(stale)}); delete it to import with the requirements as written."
        )
    report.findings += config.config_findings(project, facts, target.version)
    if reqs:
        report.findings += requirements.requirement_findings(
            reqs, target, facts, resolve=options.resolve
        )
    if options.import_check:
        options.log(f"importing the DAG folder with Airflow {target.version}'s DagBag")
        report.findings += import_check(project, env)
    return report


def code_findings(
    project: Project,
    sources: list[Source],
    target: Target,
    reqs: requirements.RequirementsFile | None,
) -> list[Finding]:
    """airshift's rules and ruff's AIR rules, without ruff findings an own rule supersedes."""
    findings: list[Finding] = []
    suppressed: set[tuple[str, int, str]] = set()
    has_fab, listed = has_fab_provider(reqs), requirements.listed(reqs)
    for source in sources:
        ctx = RuleContext(target, source.file.kind, has_fab, listed)
        result = check_source(source.text, source.file.display, ctx)
        findings += result.findings
        suppressed |= {(source.file.display, line, code) for line, code in result.suppress}
    files = {s.file.path: s.file.display for s in sources}
    for finding in ruff_findings(project.root, files, target):
        if (finding.file, finding.line, finding.rule) not in suppressed:
            findings.append(finding)
    return findings
