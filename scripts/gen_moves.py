"""Regenerate airshift/data/moves/TARGET.json: where each Airflow 2 name lives on a target release.

Why generated from the real packages: a table copied from Airflow's own deprecation maps once
rewrote ``NOTSET`` into the class ``ArgNotSet`` and ``context_merge(...)`` into a call of a
module. Here every public name of the source release (and every 1.10 name its deprecation
tables list) is imported in the *source* runtime to learn what it is, then looked for in the
*target* runtime (core, Task SDK, standard and the installed providers). A move is "verified"
when exactly one object of the same kind and qualified name (a sentinel: same type and name)
answers, and becomes a safe fix; anything else stays a finding with its candidates.

Adding a target release is data: ``python scripts/gen_moves.py 3.4.0`` writes
``airshift/data/moves/3.4.0.json``. ``tests/code/test_code_moves.py`` fails while a committed
table differs from what the runtimes say, and re-verifies every move inside the target.

It also writes ``airshift/data/signatures/TARGET.json``: for every operator, sensor, hook and
DAG class of the source runtime, the constructor arguments the same class no longer accepts on
the target (``probes in scripts/moves/signatures.py``), and the rename when it is one-for-one.

Usage: python scripts/gen_moves.py [TARGET ...]   (default: every table already committed)
"""

from __future__ import annotations

import ast
import json
import sys
import tempfile
from pathlib import Path

from airshift import airflow_env
from airshift.code.provider_pins import distribution_of
from airshift.runtimes import venv

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "airshift" / "data" / "moves"
SIGNATURES = ROOT / "airshift" / "data" / "signatures"
PROBES = Path(__file__).resolve().parent / "moves"
SOURCE = "2.10.5"
# Providers installed in both runtimes, so 1.10 ``airflow.contrib`` names and provider classes
# can be followed to their homes. The corpus measurement uses the same runtimes.
PROVIDERS = [
    f"apache-airflow-providers-{name}"
    for name in [
        "airbyte",
        "amazon",
        "apache-spark",
        "cncf-kubernetes",
        "common-sql",
        "databricks",
        "docker",
        "google",
        "http",
        "microsoft-azure",
        "postgres",
        "sftp",
        "slack",
        "snowflake",
        "ssh",
    ]
]


def runtime(version: str) -> airflow_env.AirflowEnv:
    """The Airflow release with the providers above (installed once into the cache)."""
    return airflow_env.ensure(version, extras=PROVIDERS)


def runtimes(target: str) -> dict[str, str]:
    """The names of the runtimes a table comes from: they change with the resolution rule,
    the release date cut-off, the providers and the Python, so a table records them and a
    fast test sees when it is stale without installing anything."""
    quiet = lambda _: None  # noqa: E731 - a shipped release needs no note
    return {
        "source": airflow_env.runtime_path(SOURCE, PROVIDERS, quiet).name,
        "target": airflow_env.runtime_path(target, PROVIDERS, quiet).name,
    }


def installed(target: str) -> bool:
    """Whether both runtimes with providers are installed (they are large: the slow tests
    that need them run where they are)."""
    quiet = lambda _: None  # noqa: E731
    return all(
        venv.read(airflow_env.runtime_path(v, PROVIDERS, quiet)).complete for v in (SOURCE, target)
    )


def deprecated_names(site_packages: Path) -> list[str]:
    """Every ``old.module.Name`` an ``add_deprecated_classes`` table of the release lists."""
    names: set[str] = set()
    for path in sorted((site_packages / "airflow").rglob("*.py")):
        if "providers" in path.relative_to(site_packages).parts:
            continue  # provider packages keep their paths; their deprecations are theirs
        text = path.read_text(encoding="utf-8")
        if "add_deprecated_classes(" not in text or path.name == "deprecation_tools.py":
            continue
        parts = path.relative_to(site_packages).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        names |= _module_names(ast.parse(text), module)
    return sorted(names)


def _module_names(tree: ast.Module, module: str) -> set[str]:
    assigned = {
        target.id: node.value
        for node in tree.body
        if isinstance(node, ast.Assign | ast.AnnAssign)
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Name)
    }
    names = set()
    for node in ast.walk(tree):
        if not (
            isinstance(node, ast.Call) and getattr(node.func, "id", "") == "add_deprecated_classes"
        ):
            continue
        spec = node.args[0]
        if isinstance(spec, ast.Name):
            spec = assigned[spec.id]
        assert isinstance(spec, ast.Dict)
        for key, value in zip(spec.keys, spec.values, strict=True):
            owner = module if isinstance(key, ast.Name) else f"{module}.{ast.literal_eval(key)}"
            names |= {f"{owner}.{name}" for name in ast.literal_eval(value) if name != "*"}
    return names


def _probe(env: airflow_env.AirflowEnv, script: str, *args: str) -> None:
    with tempfile.TemporaryDirectory(prefix="airshift-moves-") as home:
        env.run(["python", str(PROBES / script), *args], home=Path(home), timeout=1800)


def build(target: str) -> str:
    """The JSON text of the move table for ``target``."""
    source_env, target_env = runtime(SOURCE), runtime(target)
    site = next((source_env.path / "lib").glob("python3*/site-packages"))
    with tempfile.TemporaryDirectory(prefix="airshift-moves-") as tmp:
        names, moves = Path(tmp) / "names.json", Path(tmp) / "moves.json"
        _probe(source_env, "source_names.py", str(names), *deprecated_names(site))
        _probe(target_env, "target_homes.py", str(names), str(moves))
        table = {
            "source": SOURCE,
            "target": target,
            "providers": PROVIDERS,
            "runtimes": runtimes(target),
            "moves": json.loads(moves.read_text()),
        }
    return json.dumps(table, indent=1, sort_keys=True) + "\n"


def build_signatures(target: str, moves: dict) -> str:
    """The JSON text of the argument changes of every operator, sensor, hook and DAG class
    between the source runtime and ``target`` (classes followed through the verified moves)."""
    source_env, target_env = runtime(SOURCE), runtime(target)
    with tempfile.TemporaryDirectory(prefix="airshift-signatures-") as tmp:
        listed, src_paths, tgt_paths = (Path(tmp) / n for n in ("list", "src", "tgt"))
        before, after = Path(tmp) / "before.json", Path(tmp) / "after.json"
        _probe(source_env, "signatures.py", "--list", str(listed))
        classes = json.loads(listed.read_text())
        homes = {
            path: moves[path]["new"] if moves.get(path, {}).get("verified") else path
            for path in classes
        }
        src_paths.write_text(json.dumps({p: p for p in classes}))
        tgt_paths.write_text(json.dumps(homes))
        _probe(source_env, "signatures.py", str(src_paths), str(before))
        _probe(target_env, "signatures.py", str(tgt_paths), str(after))
        old, new = json.loads(before.read_text()), json.loads(after.read_text())
    changes, removed_classes = {}, {}
    for path in sorted(old["classes"]):
        if path not in new["classes"]:
            if not moves.get(path, {}).get("new"):
                removed_classes[path] = distribution_of(path)
            continue
        change = _signature_change(old["classes"][path], new["classes"][path])
        if change:
            changes[path] = {"target_path": homes[path], **change}
    versions = {
        dist: [old["versions"].get(dist), new["versions"].get(dist)]
        for dist in sorted(set(removed_classes.values()))
    }
    table = {
        "source": SOURCE,
        "target": target,
        "providers": PROVIDERS,
        "runtimes": runtimes(target),
        "classes": changes,
        "removed_classes": removed_classes,
        "versions": versions,
    }
    return json.dumps(table, indent=1, sort_keys=True) + "\n"


def _signature_change(old: dict, new: dict) -> dict:
    """Arguments gone on the target, and the renames among them.

    A rename is a removed argument of the class's *own* (base-class changes such as
    ``task_concurrency`` belong to the base class) for which exactly one argument the class
    gained shares a word (``execution_date`` -> ``logical_date``), and no other removed
    argument claims it. The fix is safe only when the new argument is required on the target
    (the call cannot work without it); ``required`` lists those.

    A removed argument that the source's own constructor treated as another spelling of an
    argument the target still accepts (``cluster_name or name``: ``aliases`` of the probe) is
    a rename too, and a safe one: the source code itself says both meant the same value."""
    removed = sorted(set(old["accepted"]) - set(new["accepted"]))
    if not removed:
        return {}
    change: dict = {"removed": removed}
    aliases = {
        name: old["aliases"][name]
        for name in removed
        if old.get("aliases", {}).get(name) in new["accepted"]
    }
    own_removed = sorted(set(old["own"]) - set(new["accepted"]))
    own_added = sorted(set(new["own"]) - set(old["accepted"]))
    claims = {
        name: [added for added in own_added if _words(name) & _words(added)] for name in own_removed
    }
    renamed = {
        name: found[0]
        for name, found in claims.items()
        if len(found) == 1 and sum(found[0] in other for other in claims.values()) == 1
    }
    renamed |= aliases
    if renamed:
        change["renamed"] = renamed
        change["required"] = sorted(set(renamed.values()) & set(new["required"]))
    if aliases:
        change["aliases"] = sorted(aliases)
    return change


def _words(name: str) -> set[str]:
    return {word for word in name.split("_") if word}


def verify(env: airflow_env.AirflowEnv, table: Path) -> dict:
    """Re-check every verified move of ``table`` inside ``env``: ``{"checked", "unchecked",
    "problems"}``; moves into providers ``env`` does not have are counted as unchecked."""
    with tempfile.TemporaryDirectory(prefix="airshift-moves-") as tmp:
        out = Path(tmp) / "verify.json"
        _probe(env, "target_homes.py", "--verify", str(table), str(out))
        return json.loads(out.read_text())


def main(targets: list[str]) -> None:
    targets = targets or sorted(p.stem for p in OUT.glob("*.json"))
    OUT.mkdir(parents=True, exist_ok=True)
    SIGNATURES.mkdir(parents=True, exist_ok=True)
    for target in targets:
        text = build(target)
        (OUT / f"{target}.json").write_text(text)
        print(f"wrote {OUT / f'{target}.json'}")
        signatures = build_signatures(target, json.loads(text)["moves"])
        (SIGNATURES / f"{target}.json").write_text(signatures)
        print(f"wrote {SIGNATURES / f'{target}.json'}")


if __name__ == "__main__":
    main(sys.argv[1:])
