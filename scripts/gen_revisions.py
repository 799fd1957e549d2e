"""Regenerate airshift/data/revisions.json from installed Airflow packages.

Why: airshift must name the Airflow version of any metadata database from its
``alembic_version`` alone, and must know which Airflow release can migrate a
database at a given revision. Airflow's own migration files are the only
trustworthy source, so this script reads them (with ``ast``; nothing is
imported) from one or more installed Airflow packages and merges the result.

It also lists the tables of every schema head on each package's migration chain, as that
package's own migrations make them (an SQLite database migrated head by head), so that
a test can hold airshift's table registry to every table of every known head: the next
Airflow that adds a table fails it until the table is classified.

A pre-release (3.4.0b2, say) is recorded under its own name, with its own chain head, in
``prereleases``: its package already names the final release's head (``"3.4.0": ...``), which
the final release may still change, so that entry is not taken from it. Once the final
release is on the index, regenerating with the final's package drops the pre-release's
entries: a beta is never offered after its final.

Usage: python scripts/gen_revisions.py VENV [VENV ...]  (2.x venvs first)
"""

from __future__ import annotations

import ast
import contextlib
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import sqlalchemy as sa
from packaging.version import Version

OUT = Path(__file__).resolve().parent.parent / "airshift" / "data" / "revisions.json"


def _literal(tree: ast.Module, name: str) -> object:
    for node in tree.body:
        targets = []
        if isinstance(node, ast.Assign):
            targets = [t.id for t in node.targets if isinstance(t, ast.Name)]
            value = node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            targets = [node.target.id]
            value = node.value
        if name in targets and value is not None:
            try:
                return ast.literal_eval(value)
            except ValueError:
                return None
    return None


def read_package(venv: Path) -> tuple[str, list[dict[str, object]], dict[str, str]]:
    pkg = next(venv.glob("lib/python*/site-packages/airflow"))
    version_file = pkg / "__init__.py"
    version = _literal(ast.parse(version_file.read_text()), "__version__")
    if version is None:  # Airflow 3 keeps the version in airflow/__init__.py too, but guard.
        version = next(
            venv.glob("lib/python*/site-packages/apache_airflow-*.dist-info")
        ).name.split("-")[1]
    out = []
    for path in sorted((pkg / "migrations" / "versions").glob("*.py")):
        tree = ast.parse(path.read_text())
        rev = _literal(tree, "revision")
        if not rev:
            continue
        out.append(
            {
                "revision": rev,
                "airflow_version": _literal(tree, "airflow_version"),
                "down_revision": _literal(tree, "down_revision"),
            }
        )
    heads = _literal(ast.parse((pkg / "utils" / "db.py").read_text()), "_REVISION_HEADS_MAP")
    return str(version), out, dict(heads or {})


def chain_head(revs: list[dict[str, object]]) -> str:
    """The one revision no other revision of the package names as its ``down_revision``."""
    downs = {d for r in revs for d in _as_list(r["down_revision"])}
    tips = [r["revision"] for r in revs if r["revision"] not in downs]
    if len(tips) != 1:
        raise SystemExit(f"expected one head in the migration chain, found {tips}")
    return str(tips[0])


def _as_list(value: object) -> list[object]:
    return list(value) if isinstance(value, tuple | list) else [value]


def _pypi_releases() -> list[str]:
    """Final releases of apache-airflow >= 2.0 on PyPI, so airshift can pick an installable one."""
    out = subprocess.run(
        [sys.executable, "-m", "pip", "index", "versions", "apache-airflow"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    line = next((x for x in out.splitlines() if x.startswith("Available versions:")), "")
    found = [v.strip() for v in line.split(":", 1)[-1].split(",") if v.strip()]
    return sorted(
        (v for v in found if re.fullmatch(r"[23]\.\d+\.\d+", v)),
        key=lambda v: tuple(int(p) for p in v.split(".")),
    )


def head_tables(
    venv: Path, version: str, chain: list[str], heads: dict[str, str], known: dict
) -> dict[str, list[str]]:
    """The tables at each schema head on ``version``'s chain that ``known`` lacks: one
    SQLite database, migrated by the package's own ``db migrate -r`` to each head in turn
    (the SQLite-safe way airshift's scratch database is migrated), reflected after each."""
    from airshift import airflow_env, db
    from airshift.errors import AirshiftError
    from airshift.metadata import scratch

    airflow_env.register_venv(f"{version}={venv}")
    wanted = sorted({h for h in heads.values() if h in chain and h not in known}, key=chain.index)
    found: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory(prefix="airshift-heads-") as tmp:
        url = f"sqlite:///{tmp}/heads.db"
        for head in wanted:
            # After migrating, `db migrate` adds the default pool through the package's own
            # ORM, which fails on older schemas; the migration itself is done (checked below).
            with contextlib.suppress(AirshiftError):
                scratch.migrate_to(version, head, url, Path(tmp), log=lambda m: None)
            engine = db.engine_for(url)
            try:
                if db.alembic_revision(engine) != head:
                    raise SystemExit(f"{version} could not migrate a database to {head}")
                found[head] = sorted(sa.inspect(engine).get_table_names())
            finally:
                engine.dispose()
            print(f"{version}: {head}: {len(found[head])} tables", file=sys.stderr)
    return found


def main(venvs: list[str]) -> None:
    data = json.loads(OUT.read_text()) if OUT.exists() else {}
    revisions, chains, heads, tables = (
        data.get("revisions", {}),
        data.get("chains", {}),
        data.get("heads", {}),
        data.get("tables", {}),
    )
    prereleases = set(data.get("prereleases", []))
    for v in venvs:
        version, revs, version_heads = read_package(Path(v))
        chains[version] = [str(r["revision"]) for r in revs]
        for release, head in version_heads.items():
            # 3.x maps 2.6.2 to its squashed stand-in; the 2.x packages know the real head.
            # A pre-release names its final's head before the final exists: not a fact yet.
            if Version(release) <= Version(version):
                heads.setdefault(release, head)
        if Version(version).is_prerelease:
            heads[version] = chain_head(revs)
            prereleases.add(version)
        for r in revs:
            revisions[r["revision"]] = revisions.get(r["revision"]) or r["airflow_version"]
        tables |= head_tables(Path(v), version, chains[version], heads, tables)
    releases = _pypi_releases() or data.get("releases", [])
    # A pre-release whose final release is out is superseded: forget it.
    for old in [p for p in prereleases if Version(p).base_version in releases]:
        prereleases.discard(old)
        chains.pop(old, None)
        heads.pop(old, None)
    tables = {head: names for head, names in tables.items() if head in heads.values()}
    data = {
        "revisions": revisions,
        "chains": chains,
        "heads": heads,
        "releases": releases,
        "prereleases": sorted(prereleases, key=Version),
        "tables": dict(sorted(tables.items())),
    }
    OUT.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"{len(data['revisions'])} revisions, chains: {', '.join(data['chains'])}")


if __name__ == "__main__":
    main(sys.argv[1:])
