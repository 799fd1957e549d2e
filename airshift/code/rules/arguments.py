"""Arguments an operator, sensor or hook no longer accepts on the target (AS160), and provider
classes the target cannot import (AS161)."""

from __future__ import annotations

from dataclasses import replace

import libcst as cst

from airshift.code import provider_pins
from airshift.code.findings import Applicability, Severity
from airshift.code.rules.base import (
    Analysis,
    FixAvailability,
    Hit,
    Rule,
    RuleContext,
    allowed,
)
from airshift.code.rules.moves import imported_names
from airshift.code.rules.successor import replaced
from airshift.code.signatures import RemovedClass, SignatureChange, change_for, signature_table

# Arguments Airflow 3 removed that only ever changed how the UI drew a DAG: dropping them
# cannot change what runs, so the fix is safe.
UI_ONLY = {"default_view", "orientation"}


def _removed_args(analysis: Analysis, ctx: RuleContext) -> list[tuple[cst.Arg, SignatureChange]]:
    """Each argument a call passes that its class no longer accepts, with the class's change;
    the change is narrowed to the call: a rename to a keyword the call already passes is no
    rename here (the call would name it twice)."""
    found = []
    for call in analysis.nodes(cst.Call):
        names = analysis.names(call.func)
        change = change_for(names, ctx.target) if names else None
        if change is None:
            continue
        passed = {a.keyword.value for a in call.args if a.keyword}
        if passed & set(change.renamed.values()):
            renamed = {k: v for k, v in change.renamed.items() if v not in passed}
            change = replace(change, renamed=renamed)
        found += [(a, change) for a in call.args if a.keyword and a.keyword.value in change.removed]
    return found


def _applicability(arg: cst.Arg, change: SignatureChange) -> Applicability | None:
    assert arg.keyword is not None
    if arg.keyword.value in UI_ONLY:
        return Applicability.SAFE
    new = change.renamed.get(arg.keyword.value)
    if new is None:
        return None
    proven = new in change.required or arg.keyword.value in change.aliases
    return Applicability.SAFE if proven else Applicability.UNSAFE


class RemovedArgumentRule(Rule):
    """An operator, sensor or hook argument that the class no longer accepts on the target.

    ## What it does
    Compares, for every operator, sensor and hook class of the source runtime, the constructor
    arguments it accepts (along its MRO) with what the same class accepts on the target, both
    asked of the real runtimes with the same providers installed, and reports call sites that
    pass an argument that is gone. When exactly one argument the class gained shares a word
    with the one that went (`execution_date` -> `logical_date`), or when the source's own
    constructor treated the two as one value (`cluster_name or name`), it is a rename: the
    fix renames the keyword; it is safe when the new argument is required on the target (the
    call cannot work without it) or the source treated both as one, unsafe otherwise, and
    not offered when the call already passes the new one. Arguments that only changed
    how the UI drew the DAG (`default_view`, `orientation`) are dropped.

    ## Why is this bad?
    The DAG file fails on import with `TypeError` or "Invalid arguments were passed".

    ## Example
    ```python
    TriggerDagRunOperator(task_id="t", trigger_dag_id="d", execution_date="{{ ds }}")
    ```

    ## Use instead
    ```python
    TriggerDagRunOperator(task_id="t", trigger_dag_id="d", logical_date="{{ ds }}")
    ```
    """

    code = "AS160"
    name = "removed-argument"
    fix_availability = FixAvailability.SOMETIMES
    supersedes = frozenset({"AIR301"})

    def check(self, analysis: Analysis, ctx: RuleContext) -> list[Hit]:
        hits = []
        for arg, change in _removed_args(analysis, ctx):
            assert arg.keyword is not None
            keyword = arg.keyword.value
            new = change.renamed.get(keyword)
            where = f"; it is `{new}` now" if new else ""
            if keyword in UI_ONLY:
                where = "; it only changed the UI and can go"
            message = (
                f"`{change.target_path.rpartition('.')[2]}` does not accept `{keyword}` on "
                f"Airflow {ctx.target.version}{where}."
            )
            hits.append(
                Hit(analysis.line(arg), Severity.BREAKS, message, _applicability(arg, change))
            )
        return hits

    def fix(self, analysis: Analysis, ctx: RuleContext, unsafe: bool = False) -> cst.Module:
        renames = {
            arg: change.renamed.get(arg.keyword.value)  # None: drop the argument
            for arg, change in _removed_args(analysis, ctx)
            if arg.keyword and allowed(_applicability(arg, change), unsafe)
        }
        if not renames:
            return analysis.module
        return analysis.module.visit(_RenameKeywords(renames))


class _RenameKeywords(cst.CSTTransformer):
    def __init__(self, renames: dict[cst.Arg, str | None]) -> None:
        super().__init__()
        self.renames = renames

    def leave_Arg(self, original: cst.Arg, updated: cst.Arg) -> cst.Arg:
        new = self.renames.get(original)
        return updated.with_changes(keyword=cst.Name(new)) if new else updated

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.Call:
        drop = {i for i, a in enumerate(original.args) if a in self.renames and not self.renames[a]}
        if not drop:
            return updated
        args = [a for i, a in enumerate(updated.args) if i not in drop]
        if args and len(updated.args) - 1 in drop:  # the last one went: keep its comma style
            args[-1] = args[-1].with_changes(comma=updated.args[-1].comma)
        return updated.with_changes(args=args)


class RemovedProviderClassRule(Rule):
    """Import of a provider class that the target runtime cannot import.

    ## What it does
    Reports `from airflow.providers... import Name` when the class imports in the source
    runtime and not in the target (both real runtimes, providers as of each Airflow release).
    When a requirement brings the class back, verified by installing it with the target
    Airflow and importing the class there (`airshift/data/provider_pins/`), the fix adds it
    to the translated requirements: the newest release of the provider that still has the
    class, a provider Airflow 3 no longer installs (ftp, imap, sqlite), or a provider the
    class's module needs but its own provider lists only as an extra. A folder gets one pin
    per provider: of the verified releases, the one with which most of the classes it
    imports from that provider import. The fix is safe unless that pin would break a class
    that imports with the target's own release, or the requirements already pin that
    provider to another release (a choice someone made).

    ## Why is this bad?
    The DAG file fails with `ImportError` on the target. A removed operator's successor
    usually takes other arguments, so a code edit keeps what the task does only for the
    call shapes proven the same (AS162); an older release of the same provider runs the
    very same class.

    ## Example
    ```python
    from airflow.providers.google.cloud.operators.bigquery import BigQueryCreateEmptyTableOperator
    ```

    ## Use instead
    ```
    # requirements.airflow-3.3.2.txt
    apache-airflow-providers-google==16.1.0
    ```
    or the successor, `BigQueryCreateTableOperator`, chosen by hand.
    """

    code = "AS161"
    name = "removed-provider-class"
    fix_availability = FixAvailability.SOMETIMES
    supersedes = frozenset({"AIR302"})

    def check(self, analysis: Analysis, ctx: RuleContext) -> list[Hit]:
        removed = signature_table(ctx.target).removed
        rewritten = replaced(analysis, ctx)  # AS162 rewrites every use: the import goes
        imported = [(s, name) for s, name in imported_names(analysis) if name not in rewritten]
        added = provider_pins.needed([name for _, name in imported], ctx.target)
        hits = []
        for statement, name in imported:
            gone = removed.get(name)
            if gone is None or provider_pins.satisfied(name, ctx.target, ctx.requirements):
                continue
            hits.append(_removed_class_hit(analysis.line(statement), gone, added, ctx))
        return hits


def _removed_class_hit(
    line: int, gone: RemovedClass, added: dict[str, provider_pins.Added], ctx: RuleContext
) -> Hit:
    """The finding for one class; its fix is the requirement the file's imports get
    (``provider_pins.needed``; the folder's may be another, the re-check after the upgrade
    says what is left)."""
    short = gone.path.rpartition(".")[2]
    found = provider_pins.remedy(gone.path, ctx.target)
    entry = added.get(found.name) if found else None
    if found is None or entry is None or gone.path not in entry.classes:
        message = (
            f"`{short}` is not in {gone.distribution} {gone.target_version} any more "
            f"({gone.source_version} -> {gone.target_version}); choose its successor by hand."
        )
        return Hit(line, Severity.BREAKS, message)
    why = {
        "removed": f"is not in {gone.distribution} {gone.target_version} any more; "
        f"`{entry.requirement}` has it",
        "not-installed": f"comes from {gone.distribution}, which Airflow "
        f"{ctx.target.version} no longer installs",
        "needs-provider": f"needs `{found.requirement}` on the target, which "
        f"{gone.distribution} {gone.target_version} lists only as an extra",
    }[found.why]
    listed = ctx.requirements.get(found.name)
    pinned = listed is not None and any(s.operator == "==" for s in listed.specifier)
    breaks = ", ".join(f"`{b.rpartition('.')[2]}`" for b in entry.breaks)
    fix = Applicability.UNSAFE if pinned else entry.fix
    command = "code upgrade --unsafe-fixes" if fix is Applicability.UNSAFE else "code upgrade"
    message = (
        f"`{short}` {why}, verified to install and import with Airflow {ctx.target.version}: "
        f"`{command}` adds `{entry.requirement}` to the translated requirements"
        + (f" in place of `{listed}`" if pinned else "")
        + (f", though with it {breaks} would not import" if breaks else "")
        + " (or choose a successor by hand)."
    )
    return Hit(line, Severity.BREAKS, message, fix)
