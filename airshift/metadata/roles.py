"""Custom roles of the FAB auth manager in an archive: named, with their permissions.

Why report them: roles and users live in the ``ab_*`` tables of Flask-AppBuilder, which
belong to the target's auth manager and are not imported (``registry.LEFT_OUT_PREFIXES``).
The roles FAB makes itself come back on the target by themselves; a custom role (a team's
access to its own DAGs) does not, and an import that only said "ab_role skipped" would let
it be lost silently. So each one is named with every permission it held, ready to be
re-created on the target (``airflow roles create`` / ``add-perms``, or MWAA's role pages).
"""

from __future__ import annotations

from collections import defaultdict

from airshift.archive import ArchiveReader

# The roles Flask-AppBuilder and Airflow create and keep in sync themselves.
BUILTIN_ROLES = frozenset({"Admin", "Op", "User", "Viewer", "Public"})
_TABLES = (
    "ab_role",
    "ab_permission",
    "ab_view_menu",
    "ab_permission_view",
    "ab_permission_view_role",
)


def _rows(reader: ArchiveReader, table: str, columns: list[str]) -> list[tuple]:
    return [
        tuple(row[c] for c in columns)
        for batch in reader.iter_batches(table, columns=columns)
        for row in batch.to_pylist()
    ]


def custom_roles(reader: ArchiveReader) -> dict[str, list[str]]:
    """Role name -> its permissions ("ACTION on RESOURCE"), for each role FAB did not make."""
    if not set(_TABLES) <= set(reader.manifest.tables):
        return {}
    roles = {i: n for i, n in _rows(reader, "ab_role", ["id", "name"]) if n not in BUILTIN_ROLES}
    if not roles:
        return {}
    actions = dict(_rows(reader, "ab_permission", ["id", "name"]))
    resources = dict(_rows(reader, "ab_view_menu", ["id", "name"]))
    pairs = {
        i: f"{actions.get(a)} on {resources.get(r)}"
        for i, a, r in _rows(reader, "ab_permission_view", ["id", "permission_id", "view_menu_id"])
    }
    held: dict[str, list[str]] = defaultdict(list)
    for pv, role in _rows(reader, "ab_permission_view_role", ["permission_view_id", "role_id"]):
        if role in roles and pv in pairs:
            held[roles[role]].append(pairs[pv])
    return {name: sorted(held.get(name, [])) for name in sorted(roles.values())}
