"""Verification of the parts a SQL comparison cannot see: secrets, compared decrypted.

Why: Fernet encryption is randomised, so the same password encrypted twice never gives
the same bytes. Variables and connections are few; they are decrypted with the target's
key on both sides (scratch and target) and compared in memory, never written anywhere.
"""

from __future__ import annotations

import sqlalchemy as sa
from cryptography.fernet import InvalidToken

from airshift.archive.secrets import multi_fernet
from airshift.errors import WrongKey
from airshift.metadata.merge import MergeResult
from airshift.metadata.registry import SECRET_TABLES, TableSpec
from airshift.metadata.source import AirflowDB


def _plain(spec: TableSpec, table: sa.Table, conn: sa.Connection, fernet) -> dict:
    out = {}
    for row in conn.execute(sa.select(table)).mappings():
        values = []
        for col, flag in spec.secrets.items():
            v = row[col]
            values.append(fernet.decrypt(v.encode()) if v is not None and row[flag] else v)
        out[row[spec.named_by]] = tuple(values)
    return out


def compare_secrets(
    scratch: AirflowDB, target: AirflowDB, target_key: str, result: MergeResult
) -> None:
    """Add decrypted-secret differences to ``result`` for rows both sides hold."""
    fernet = multi_fernet(target_key, "target Fernet key")
    for spec in SECRET_TABLES:
        name = spec.name
        if name not in result.tables or name not in scratch.metadata.tables:
            continue
        with scratch.engine.connect() as sconn, target.engine.connect() as tconn:
            mine = _plain(spec, scratch.metadata.tables[name], sconn, fernet)
            theirs = _plain(spec, target.metadata.tables[name], tconn, fernet)
        result.tables[name].differing += sum(
            1 for k, v in mine.items() if k in theirs and theirs[k] != v
        )


def check_target_key(target: AirflowDB, target_key: str) -> None:
    """Refuse a target Fernet key that does not open the secrets the target already holds.

    Secrets written with a wrong key would be unreadable for the target's Airflow, so
    this is checked before anything is imported. A target with no encrypted secret yet
    cannot be checked; its key is then taken on trust.
    """
    fernet = multi_fernet(target_key, "target Fernet key")
    for spec in SECRET_TABLES:
        name = spec.name
        table = target.metadata.tables.get(name)
        if table is None:
            continue
        col, flag = next(iter(spec.secrets.items()))
        with target.engine.connect() as conn:
            sample = conn.execute(
                sa.select(table.c[col])
                .where(table.c[flag].is_(True), table.c[col].is_not(None))
                .limit(5)
            )
            for (value,) in sample:
                try:
                    fernet.decrypt(value.encode())
                except InvalidToken:
                    raise WrongKey(
                        f"The target Fernet key does not decrypt the target's own {name}s: it is not "
                        "the key the target's Airflow uses ([core] fernet_key). Nothing was imported."
                    ) from None
