"""Regenerate airshift/data/provider_pins/TARGET.json: for each provider class the target runtime
cannot import (``removed_classes`` of ``airflow/data/signatures/TARGET.json``, rule AS161), the
requirement that brings it back, verified by installing it with the target Airflow.

Why a requirement and not a code edit: a removed operator's successor takes other arguments
(``BigQueryCreateEmptyTableOperator`` -> ``BigQueryCreateTableOperator(table_resource=...)``),
so an edit keeps what the DAG does only for the call shapes proven the same (rule AS162,
``airshift/code/rules/successor.py``); an older release of the same provider runs the very
same class. Three cases, each decided from the real packages:

- the target's provider release no longer has the class: the newest older release that still
  defines it (read from its wheel, binary search over the releases between the source's and
  the target's provider version) is pinned, ``apache-airflow-providers-google==16.1.0``;
- the provider is not installed with the target Airflow at all (Airflow 3 no longer installs
  ftp, imap, sqlite): the provider is added;
- the target's release still has the class but its module needs another provider it lists
  only as an extra (google's spanner needs openlineage): that provider is added.

A requirement counts only when it is *verified*: the target runtime with the same providers
and that requirement (``airflow_env.ensure``, resolved as the target's own runtime is)
installs, and every class it is meant for imports there (for a pinned release: every class
whose newest release is that one or newer). For each pinned release the table also lists the
provider's classes (every operator, sensor and hook of the source runtime) that do *not*
import with it, so a folder's pin can be chosen without breaking what works with the
target's own release. Classes without a verified requirement are not in the table (AS161
then asks for a successor by hand).

Usage: python scripts/gen_provider_pins.py [TARGET ...]  (default: every signature table)
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import tempfile
import zipfile
from functools import cache
from pathlib import Path

from packaging.version import Version

from airshift import airflow_env
from airshift.code.provider_pins import distribution_of
from scripts import gen_moves

OUT = gen_moves.ROOT / "airshift" / "data" / "provider_pins"
_MISSING_MODULE = re.compile(r"No module named '(airflow\.providers\.[\w.]+)'")


def wheel(spec: str, folder: Path) -> Path:
    """The wheel for ``name==version`` in ``folder``, downloaded from the index once."""
    name, version = spec.split("==")
    stem = f"{name.replace('-', '_')}-{version}-"
    found = [p for p in folder.glob("*.whl") if p.name.startswith(stem)]
    if not found:
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(folder), spec],
            check=True,
        )
        found = [p for p in folder.glob("*.whl") if p.name.startswith(stem)]
    return found[0]


@cache
def releases(distribution: str) -> list[Version]:
    """Final releases of ``distribution`` on the index, oldest first (pip's own listing)."""
    out = subprocess.run(
        [sys.executable, "-m", "pip", "index", "versions", distribution],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    listed = out.split("Available versions:", 1)[1].splitlines()[0]
    return sorted(v for v in map(Version, listed.split(",")) if not v.is_prerelease)


@cache
def defines(distribution: str, version: Version, path: str) -> bool:
    """Whether the release's wheel defines ``path`` (module.Name) at its module's top level."""
    module, _, name = path.rpartition(".")
    stem = module.replace(".", "/")
    archive = wheel(f"{distribution}=={version}", airflow_env.cache_dir() / "provider-wheels")
    with zipfile.ZipFile(archive) as whl:
        files = set(whl.namelist())
        source = next((f for f in (f"{stem}.py", f"{stem}/__init__.py") if f in files), None)
        if source is None:
            return False
        tree = ast.parse(whl.read(source))
    return name in _top_level_names(tree)


def _top_level_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.ImportFrom | ast.Import):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return names


def newest_defining(distribution: str, source: str, target: str, path: str) -> Version | None:
    """The newest release in [source, target) that defines ``path`` (a class is removed once,
    so the releases that have it come first: binary search; the import check verifies)."""
    candidates = [v for v in releases(distribution) if Version(source) <= v < Version(target)]
    low, high, found = 0, len(candidates) - 1, None
    while low <= high:
        middle = (low + high) // 2
        if defines(distribution, candidates[middle], path):
            found, low = candidates[middle], middle + 1
        else:
            high = middle - 1
    return found


def import_errors(env: airflow_env.AirflowEnv, paths: list[str]) -> dict[str, str]:
    """``{path: last error line}`` for every path that does not import as a class in ``env``."""
    code = (
        "import importlib, inspect, json, sys, warnings\n"
        "warnings.simplefilter('ignore')\n"
        "errors = {}\n"
        "for path in json.loads(sys.argv[1]):\n"
        "    module, _, name = path.rpartition('.')\n"
        "    try:\n"
        "        if not inspect.isclass(getattr(importlib.import_module(module), name)):\n"
        "            errors[path] = 'not a class'\n"
        "    except BaseException as exc:\n"
        "        errors[path] = f'{type(exc).__name__}: {exc}'\n"
        "print('@@PINS@@' + json.dumps(errors))\n"
    )
    with tempfile.TemporaryDirectory(prefix="airshift-pins-") as home:
        proc = env.run(["python", "-c", code, json.dumps(paths)], home=Path(home), timeout=1800)
    return json.loads(proc.stdout.rsplit("@@PINS@@", 1)[1])


def runtime_with(target: str, requirements: list[str]) -> airflow_env.AirflowEnv:
    """The target runtime with the usual providers and ``requirements`` (each replacing the
    same provider's line, so a pin is what gets installed)."""
    names = {re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0] for r in requirements}
    providers = [p for p in gen_moves.PROVIDERS if p not in names]
    return airflow_env.ensure(target, extras=providers + requirements)


def candidates(target: str) -> dict[str, dict]:
    """For every provider class of AS161: the requirement meant to bring it back, and why."""
    table = json.loads((gen_moves.SIGNATURES / f"{target}.json").read_text())
    versions: dict[str, list[str | None]] = table["versions"]
    found: dict[str, dict] = {}
    unimportable: list[str] = []
    for path, distribution in sorted(table["removed_classes"].items()):
        source, installed = versions.get(distribution, [None, None])
        if distribution == "apache-airflow" or source is None:
            continue
        if installed is None:
            found[path] = {"requirement": distribution, "why": "not-installed"}
        elif defines(distribution, Version(installed), path):
            unimportable.append(path)
        else:
            last = newest_defining(distribution, source, installed, path)
            if last is not None:
                found[path] = {"requirement": f"{distribution}=={last}", "why": "removed"}
    errors = import_errors(gen_moves.runtime(target), unimportable) if unimportable else {}
    for path, error in errors.items():
        missing = _MISSING_MODULE.search(error)
        if missing:
            needed = distribution_of(missing.group(1))
            found[path] = {"requirement": needed, "why": "needs-provider"}
    return found


def source_classes() -> list[str]:
    """Every operator, sensor and hook class of the source runtime (what DAGs import)."""
    with tempfile.TemporaryDirectory(prefix="airshift-pins-") as tmp:
        out = Path(tmp) / "classes.json"
        gen_moves._probe(gen_moves.runtime(gen_moves.SOURCE), "signatures.py", "--list", str(out))
        return json.loads(out.read_text())


def build(target: str) -> str:
    """The JSON text of the table for ``target``: only verified requirements, and for each
    pinned release the provider's classes that do not import with it (a folder's pin must
    not break the classes it imports that work with the target's own release)."""
    found = candidates(target)
    by_requirement: dict[str, list[str]] = {}
    for path, entry in found.items():
        by_requirement.setdefault(entry["requirement"], []).append(path)
    listing = source_classes()
    verified: dict[str, list[str]] = {}
    missing: dict[str, dict[str, list[str]]] = {}
    for requirement in sorted(by_requirement):
        name, _, release = requirement.partition("==")
        env = runtime_with(target, [requirement])
        meant = _meant_for(requirement, found)
        if release:
            of_provider = [p for p in listing if distribution_of(p) == name]
            errors = import_errors(env, sorted(set(of_provider) | set(meant)))
            missing.setdefault(name, {})[release] = sorted(errors)
        else:
            errors = import_errors(env, meant)
        verified[requirement] = sorted(p for p in meant if p not in errors)
    classes = {
        path: entry
        for path, entry in sorted(found.items())
        if path in verified[entry["requirement"]]
    }
    table = {
        "source": gen_moves.SOURCE,
        "target": target,
        "providers": gen_moves.PROVIDERS,
        "runtimes": gen_moves.runtimes(target),
        "classes": classes,
        "verified": {r: paths for r, paths in verified.items() if paths},
        "missing": missing,
    }
    return json.dumps(table, indent=1, sort_keys=True) + "\n"


def _meant_for(requirement: str, found: dict[str, dict]) -> list[str]:
    """The classes a requirement must import: its own, and for a pin ``D==V`` every class of
    ``D`` pinned to ``V`` or newer (a folder needing several pins it to the oldest of them)."""
    name, _, version = requirement.partition("==")
    if not version:
        return sorted(p for p, e in found.items() if e["requirement"] == requirement)
    meant = []
    for path, entry in found.items():
        other, _, pinned = entry["requirement"].partition("==")
        if other == name and pinned and Version(pinned) >= Version(version):
            meant.append(path)
    return sorted(meant)


def main(targets: list[str]) -> None:
    targets = targets or sorted(p.stem for p in gen_moves.SIGNATURES.glob("*.json"))
    OUT.mkdir(parents=True, exist_ok=True)
    for target in targets:
        if target.startswith("2."):
            continue  # nothing is removed on the way to a 2.x target
        (OUT / f"{target}.json").write_text(build(target))
        print(f"wrote {OUT / f'{target}.json'}")


if __name__ == "__main__":
    main(sys.argv[1:])
