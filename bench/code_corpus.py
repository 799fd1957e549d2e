"""How many real Airflow 2 DAG files import on Airflow 3 after ``airshift code upgrade --write``,
against ruff's AIR fixes alone on the same files.

Why this measurement: it is what a user sees. The corpus (``bench/code_corpus.json``) is real
DAG folders from the Airflow 2 era that nobody on the team wrote: provider example DAGs
shipped inside old provider wheels (fetched from PyPI with pip) and public repositories of
Airflow 2 DAGs (read from a local git mirror at a fixed commit; their files are never
committed). It is split up front into ``dev`` (develop against it), ``held_back`` and
``acceptance`` (apache-airflow's own example DAGs and the amazon provider's; measured only at
the end). For every folder:

1. the real Airflow 2.10.5 DagBag (with the providers of ``scripts/gen_moves.PROVIDERS``)
   says which files import: only those count;
2. one copy gets ``ruff check --isolated --select AIR --fix`` (ruff alone, safe fixes), one
   gets ``airshift code upgrade --write`` (safe fixes);
3. the real target DagBag (3.3.2 or 3.4.0b2, same providers) imports both copies;
4. when ``code upgrade`` added requirements to the folder's translated requirements (AS161:
   an older provider release that still has a removed class, a provider Airflow 3 no longer
   installs), the airshift copy is imported once more by the target runtime with those
   requirements installed, as the environment installing them would be (one runtime per
   distinct set; a provider's line is replaced by its pin). Both numbers are reported.

A file still failing after airshift is put down to one ``cause`` (``provider``: the target's
provider release no longer has the class or module; ``dependency``: the runtime lacks a
package; ``code``: anything else). All of them count as failures in the headline column;
the last column leaves out ``provider`` and ``dependency`` files that are still failing with
the added requirements.

Usage: python -m bench.code_corpus [--split dev|held_back|held_back_2|acceptance ...] [--mirror DIR]
       [--target 3.3.2] [--out results.json]
A git source missing from the mirror is skipped and reported.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import shutil
import subprocess
import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from ruff.__main__ import find_ruff_bin

from airshift import airflow_env
from airshift.code.check import CheckOptions
from airshift.code.import_check import FolderImport, import_folders, last_line
from airshift.code.requirements import ADDED_MARK
from airshift.code.upgrade import upgrade_project
from scripts.gen_moves import PROVIDERS, SOURCE
from scripts.gen_provider_pins import runtime_with, wheel

CORPUS = json.loads((Path(__file__).with_name("code_corpus.json")).read_text())
VARIANTS = ("original", "ruff", "airshift")
# the airshift copy imported with the requirements ``code upgrade`` added (AS161), as the
# environment installing the translated requirements would have them
WITH_REQUIREMENTS = "airshift+requirements"
# Airflow's DagBag gives each file 30 s; the first files of a folder that load the large
# providers (google) take longer than that on a busy machine and would count as not
# importing. The measure is about code, not speed: each file gets ten minutes.
NO_TIMEOUT = {"AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "600"}


def _wheel(spec: str) -> Path:
    """The wheel for ``name==version``, downloaded once into the cache."""
    return wheel(spec, airflow_env.cache_dir() / "corpus" / "wheels")


def lay_out(source: str, spec: dict, dest: Path, mirror: Path | None) -> bool:
    """Write the source's DAG folder to ``dest``; False when a git source is not mirrored."""
    dest.mkdir(parents=True)
    if "wheel" in spec:
        with zipfile.ZipFile(_wheel(spec["wheel"])) as wheel:
            for name in wheel.namelist():
                parts = Path(name).parts
                if spec["folder"] in parts[:-1]:
                    target = dest.joinpath(*parts[parts.index(spec["folder"]) + 1 :])
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(wheel.read(name))
        return True
    git_dir = (mirror / source.replace("/", "+") / "repo") if mirror else None
    if git_dir is None or not git_dir.exists():
        return False
    args = ["git", "--git-dir", str(git_dir), "archive", spec["git"]]
    archive = subprocess.run(
        [*args, *([spec["folder"]] if spec["folder"] else [])], capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        prefix = f"{spec['folder']}/" if spec["folder"] else ""
        for member in tar.getmembers():
            if member.isfile() and member.name.startswith(prefix):
                target = dest / member.name[len(prefix) :]
                target.parent.mkdir(parents=True, exist_ok=True)
                extracted = tar.extractfile(member)
                assert extracted is not None
                target.write_bytes(extracted.read())
    return True


def ruff_alone(folder: Path) -> None:
    subprocess.run(
        [find_ruff_bin(), "check", "--isolated", "--no-cache", "--select", "AIR", "--fix",
         "--exit-zero", str(folder)],
        check=True,
        capture_output=True,
    )  # fmt: skip


@dataclass
class SourceResult:
    """One DAG folder: the files that import on 2.x, and which of them import after each fix."""

    split: str
    files: int = 0
    source_ok: list[str] = field(default_factory=list)
    target_ok: dict[str, list[str]] = field(default_factory=dict)  # variant -> files
    left: dict[str, str] = field(default_factory=dict)  # file -> error after airshift
    causes: dict[str, str] = field(default_factory=dict)  # file -> provider|dependency|code
    requirements: list[str] = field(default_factory=list)  # what code upgrade added

    def count(self, variant: str) -> int:
        return len(set(self.target_ok.get(variant, [])) & set(self.source_ok))


def measure(
    splits: list[str],
    mirror: Path | None,
    target: str,
    work: Path,
    only: set[str] | None = None,
) -> dict:
    """Lay out, fix and import every source of ``splits`` (or just ``only`` of them)."""
    shutil.rmtree(work, ignore_errors=True)
    sources = {
        s: split for split in splits for s in CORPUS["split"][split] if only is None or s in only
    }
    skipped, laid = [], {}
    for source in sources:
        key = source.replace("/", "+")
        if lay_out(source, CORPUS["sources"][source], work / "original" / key, mirror):
            laid[source] = key
            for variant in VARIANTS[1:]:
                shutil.copytree(work / "original" / key, work / variant / key)
        else:
            skipped.append(source)
    results = {s: SourceResult(sources[s]) for s in laid}
    originals = {s: work / "original" / k for s, k in laid.items()}
    source_env = airflow_env.ensure(SOURCE, extras=PROVIDERS)
    before = import_folders(source_env, list(originals.values()), NO_TIMEOUT)
    for source, key in laid.items():
        folder = originals[source]
        results[source].files = len(before[folder].files)
        results[source].source_ok = sorted(
            p.relative_to(folder).as_posix() for p in before[folder].clean
        )
        ruff_alone(work / "ruff" / key)
        upgrade_project(
            str(work / "airshift" / key), target, write=True,
            options=CheckOptions(import_check=False, resolve=False),
        )  # fmt: skip
    folders = [work / v / k for v in VARIANTS for k in laid.values()]
    target_env = airflow_env.ensure(target, extras=PROVIDERS)
    after = import_folders(target_env, folders, NO_TIMEOUT)
    installed = {
        ".".join(p.relative_to(target_env.path).parts[3:6])
        for p in target_env.path.glob("lib/python3*/site-packages/airflow/providers/*/")
    }
    pinned = import_with_added_requirements(target, [work / "airshift" / k for k in laid.values()])
    for source, key in laid.items():
        for variant in VARIANTS:
            folder = work / variant / key
            results[source].target_ok[variant] = sorted(
                p.relative_to(folder).as_posix() for p in after[folder].clean
            )
        folder = work / "airshift" / key
        final = pinned.get(folder, after[folder])
        results[source].requirements = added_requirements(folder, target)
        results[source].target_ok[WITH_REQUIREMENTS] = sorted(
            p.relative_to(folder).as_posix() for p in final.clean
        )
        results[source].left = {
            p.relative_to(folder).as_posix(): last_line(e)
            for p, e in final.errors.items()
            if p.relative_to(folder).as_posix() in results[source].source_ok
        }
        results[source].causes = {f: cause(e, installed) for f, e in results[source].left.items()}
    return {
        "target": target,
        "skipped": skipped,
        "sources": {s: r.__dict__ for s, r in results.items()},
    }


def added_requirements(folder: Path, target: str) -> list[str]:
    """The requirement lines ``code upgrade`` added to the folder's translated requirements."""
    found = sorted(folder.glob(f"requirements.airflow-{target}.txt"))
    found += sorted(folder.glob(f"dags/requirements.airflow-{target}.txt"))
    lines = [line for path in found for line in path.read_text().splitlines()]
    return sorted(line.split(ADDED_MARK, 1)[0].strip() for line in lines if ADDED_MARK in line)


def import_with_added_requirements(target: str, folders: list[Path]) -> dict[Path, FolderImport]:
    """The folders that got requirements from ``code upgrade``, each imported by the target
    runtime with those requirements installed (a provider's line replaced by its pin), as the
    environment installing the translated requirements would have them; one runtime per
    distinct set of requirements, keyed by the folder. Folders that got none are left out:
    their import is the plain target's."""
    groups: dict[tuple[str, ...], list[Path]] = {}
    for folder in folders:
        added = tuple(added_requirements(folder, target))
        if added:
            groups.setdefault(added, []).append(folder)
    imported: dict[Path, FolderImport] = {}
    for added, members in groups.items():
        imported |= import_folders(runtime_with(target, list(added)), members, NO_TIMEOUT)
    return imported


_PROVIDER_NAME = re.compile(r"cannot import name '\w+' from 'airflow\.providers\.")
_MODULE = re.compile(r"No module named '([\w.]+)'")


def cause(error: str, installed: set[str]) -> str:
    """Why a file still fails, from its error: ``provider`` (the target's provider release
    removed a class or module), ``dependency`` (a package the runtime does not have), or
    ``code`` (anything else: what ``code upgrade`` is for)."""
    if _PROVIDER_NAME.search(error):
        return "provider"
    module = _MODULE.search(error)
    if module:
        name = module.group(1)
        if name.startswith("airflow.providers."):
            package = ".".join(name.split(".")[:3])
            return "provider" if any(p.startswith(package) for p in installed) else "dependency"
        if not name.startswith("airflow"):
            return "dependency"
    return "code"


def table(measured: dict) -> str:
    """Markdown rows per split: files, import on 2.10.5, and how many of those import after."""
    rows = [
        f"| split | files | import on {SOURCE} | on {measured['target']} as is "
        "| after ruff alone | after airshift's code fixes | after airshift, with the "
        "requirements it adds | the same, failures of Airflow code only |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    by_split: dict[str, list[dict]] = {}
    for result in measured["sources"].values():
        by_split.setdefault(result["split"], []).append(result)
    for split, results in by_split.items():
        ok = sum(len(r["source_ok"]) for r in results)
        counts = [
            sum(len(set(r["target_ok"][v]) & set(r["source_ok"])) for r in results)
            for v in (*VARIANTS, WITH_REQUIREMENTS)
        ]
        cells = " | ".join(f"{c}/{ok} ({100 * c / ok:.0f} %)" if ok else "0" for c in counts)
        causes = [c for r in results for c in r["causes"].values()]
        scoped = ok - sum(c != "code" for c in causes)
        last = f"{counts[-1]}/{scoped} ({100 * counts[-1] / scoped:.0f} %)" if scoped else "-"
        rows.append(f"| {split} | {sum(r['files'] for r in results)} | {ok} | {cells} | {last} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", action="append", choices=sorted(CORPUS["split"]))
    parser.add_argument("--mirror", type=Path, help="folder of git mirrors (OWNER+NAME/repo)")
    parser.add_argument("--target", default="3.3.2")
    parser.add_argument("--out", type=Path, help="write per-file results as JSON")
    parser.add_argument("--work", type=Path, default=airflow_env.cache_dir() / "corpus" / "work")
    args = parser.parse_args()
    measured = measure(args.split or ["dev"], args.mirror, args.target, args.work)
    if args.out:
        args.out.write_text(json.dumps(measured, indent=1, sort_keys=True))
    print(table(measured))
    for source, result in measured["sources"].items():
        if result["requirements"]:
            print(f"{source}: code upgrade added {', '.join(result['requirements'])}")
    for source in measured["skipped"]:
        print(f"skipped {source}: not in the mirror")


if __name__ == "__main__":
    main()
