"""A migration with known secrets, then a scan of everything airshift wrote and said.

Why decode the Parquet files: they are zstd-compressed, so a plaintext secret inside one
does not show up as bytes of the file; the scan reads every value of every table file, as
well as the raw bytes of every file (archive, report, copied logs, temp files left in
TMPDIR, the target's database file) and every command's stdout and stderr.

Each secret is looked for in each form it may take: as typed, URL-encoded (either hex
case, with or without ``/`` kept), form-encoded, JSON-escaped, and inside the URI it was
given in.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote, quote_plus

import pyarrow.parquet as pq

from airshift import airflow_env
from tests.faults.lab import airshift, record
from tests.realairflow import build

ENCODED_PASSWORD = "p@ss/w0rd+1 é"
QUOTED_VARIABLE = 'tok"en\\with/slash'


def forms(secret: str) -> set[str]:
    out = {secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]}
    for safe in ("", "/"):
        for encoded in (quote(secret, safe=safe), quote_plus(secret, safe=safe)):
            out |= {encoded, encoded.lower()}
    return {f for f in out if len(f) >= 6}


def _blobs(root: Path) -> dict[str, bytes]:
    """Every file under ``root``: its bytes, and for a Parquet file its decoded values."""
    out = {}
    for path in (p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if path.suffix == ".parquet":
            data += json.dumps(pq.read_table(path).to_pylist(), default=str).encode()
        out[str(path.relative_to(root.parent))] = data
    return out


def test_no_secret_of_the_source_in_anything_airshift_writes(clone_db, tmp_path) -> None:
    src = clone_db("2.10.5", "sqlite")
    tgt = clone_db("3.3.2", "sqlite", "target")
    env = airflow_env.ensure("2.10.5")
    extra = {"AIRFLOW__CORE__FERNET_KEY": src.fixture.fernet_key}
    uri = f"postgres://u:{quote(ENCODED_PASSWORD, safe='')}@h:5432/db"
    for args in (
        ["connections", "add", "lab_encoded", "--conn-uri", uri],
        ["variables", "set", "lab_quoted", QUOTED_VARIABLE],
    ):
        env.run(args, home=tmp_path / "home", db_url=src.url, extra_env=extra)
    secrets = {
        "connection passwords": [c["password"] for c in build.CONNECTIONS.values()],
        "connection extra": ["xyz-extra-secret"],
        "variables": ["s3cr3t-value", QUOTED_VARIABLE],
        "URL-encoded password": [ENCODED_PASSWORD, uri],
        "Fernet keys": [src.fixture.fernet_key, tgt.fixture.fernet_key],
    }
    out = tmp_path / "written"
    temp = out / "tmp"
    temp.mkdir(parents=True)
    keys = ["--fernet-key", src.fixture.fernet_key, "--target-fernet-key", tgt.fixture.fernet_key]
    logs = f"{src.fixture.home}/logs={out / 'logs'}"
    runs = [
        airshift(
            "migrate",
            src.url,
            tgt.url,
            *keys,
            "--archive",
            str(out / "archive"),
            "--report",
            str(out / "report.json"),
            "--logs",
            logs,
            env={"TMPDIR": str(temp)},
        ),
    ]
    assert runs[0].returncode in (0, 1), runs[0].stderr[-3000:]  # 1: tries without a log file
    runs.append(airshift("inspect", str(out / "archive"), "--json", env={"TMPDIR": str(temp)}))
    written = _blobs(out)
    written["target database"] = Path(tgt.url.removeprefix("sqlite:///")).read_bytes()
    for i, proc in enumerate(runs):
        written[f"output of run {i}"] = (proc.stdout + proc.stderr).encode()
    leaks = [
        (kind, form, where)
        for kind, values in secrets.items()
        for value in values
        for form in forms(value)
        for where, blob in written.items()
        if form.encode() in blob
    ]
    assert len(written) > 20
    assert not leaks, leaks[:10]
    record(
        "secret_scan",
        files=len(written) - len(runs) - 1,
        outputs=len(runs),
        secrets=sum(len(v) for v in secrets.values()),
        forms=sum(len(forms(v)) for vs in secrets.values() for v in vs),
        bytes=sum(len(b) for b in written.values()),
        leaks=len(leaks),
    )
