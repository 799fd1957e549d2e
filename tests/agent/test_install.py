"""``airshift[agent]`` installs into each Amazon MWAA release without changing a package
the release's environment has.

Each release's runtime (its packages as of its release date: what Airflow installs) is
copied, and the agent is installed the way MWAA installs ``requirements.txt``: every
package already there pinned, and, from the release's constraints file (Airflow's own,
which MWAA's image copies), the pins of the packages airshift needs that Airflow itself
does not install (the constraints pin Airflow's development tools too: ruff, uv). The
install must succeed and leave every pinned package at its version; the plugin must then
load in that Airflow; the agent's export must run there, with those packages (the oldest
pyarrow among them lacks methods newer ones have), and write to S3 an archive that this
machine's ``inspect`` verifies; and where the constraints hold an older ruff, ``code check``
says it needs a newer one instead of failing on the way.
"""

from __future__ import annotations

import json
import subprocess
import uuid

import pytest
from packaging.version import Version

from airshift import tools
from airshift.archive import sealed
from tests.agent import envs
from tests.agent.conftest import airshift
from tests.realairflow.versions import AIRFLOW_3_4, MWAA_2X, MWAA_3X

pytestmark = pytest.mark.slow

# One release of each SQLAlchemy runs by default, the 2.x one among those whose
# constraints pin a ruff and a uv older than airshift's commands use, with pyarrow 14.0.2
# (no RecordBatch.cast or set_column); every release with --full, 2.7.2 (pyarrow 11.0.0,
# no RecordBatch.select; boto3 1.28.17) among them.
DEFAULT = {"2.10.1", "3.3.1"}
# MWAA 2.7.2's constraints pin pyarrow 11.0.0 (older than 14.0.1, which fixed
# CVE-2023-47248: the agent's pyarrow-hotfix closes it), fsspec 2023.9.2 and boto3 1.28.17,
# with which the export here writes to S3 (no s3fs fits those pins: docs/agent.md).
# The agent's export as a job runs it (airshift.agent.runner): the request, the database
# URL and the Fernet key on standard input, the library's one door, its summary on stdout.
_EXPORT = """
import json, sys
from airshift.agent import library
from airshift.agent.protocol import JobRequest
from airshift.agent.runner import Recorder
spec = json.load(sys.stdin)
recorder = Recorder()
job = JobRequest.from_body(spec["job"])
summary = library.export(spec["db_url"], spec["fernet_key"], job, recorder, recorder.log)
print(json.dumps(summary))
"""

# The import side's first step there: the archive read back from S3 and verified, with the
# environment's pyarrow. Where that pyarrow predates the fix of CVE-2023-47248, reading an
# archive must have disabled the pickled extension type a crafted file would run: an IPC
# stream carrying one then fails to read instead of unpickling it.
_READ = """
import sys
import pyarrow as pa
from packaging.version import Version
from airshift.archive import ArchiveReader
assert ArchiveReader(sys.argv[1]).verify() == []
if Version(pa.__version__) < Version("14.0.1"):
    class Crafted(pa.PyExtensionType):
        def __init__(self):
            super().__init__(pa.int64())
        def __reduce__(self):
            return Crafted, ()
    array = pa.ExtensionArray.from_storage(Crafted(), pa.array([1]))
    batch = pa.RecordBatch.from_arrays([array], ["x"])
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as out:
        out.write_batch(batch)
    try:
        pa.ipc.open_stream(sink.getvalue()).read_all()
    except RuntimeError as exc:
        print("refused:", exc)
    else:
        raise SystemExit("a pickled extension type was read")
"""


def _param(version: str):
    marks = [] if version in DEFAULT else [pytest.mark.full]
    return pytest.param(version, marks=marks)


@pytest.mark.parametrize("version", [_param(v) for v in (*MWAA_2X, *MWAA_3X, AIRFLOW_3_4)])
def test_agent_installs_without_changing_the_environment(
    version, tmp_path, agent_wheel, clone_db, s3
):
    env = envs.replica(version, tmp_path)
    extra = env.constrained
    proc = env.install(f"{agent_wheel}[agent]")
    assert proc.returncode == 0, proc.stderr[-1500:]
    assert env.changed() == {}
    now = env.freeze()
    assert "airshift" in set(now) - set(env.before)
    # what the agent added is at the constraints' versions (numpy only where pyarrow needs it)
    assert {n: now[n] for n in extra if n in now} == {n: v for n, v in extra.items() if n in now}
    assert {"ruff", "uv"} & set(extra) <= set(now)
    environ = envs.airflow_environ(
        env, tmp_path / "home", "sqlite:///" + str(tmp_path / "x.db"), "", {}
    )
    loads = subprocess.run(
        [str(env.python), "-c", "from airflow.plugins_manager import AirflowPlugin as P; "
         "from airshift.agent.plugin import AirshiftAgentPlugin as A; assert issubclass(A, P)"],
        capture_output=True, text=True, env=environ,
    )  # fmt: skip
    assert loads.returncode == 0, loads.stderr[-1500:]
    source = clone_db(version, "postgresql", "light")
    archive = f"s3://archives/install-{version}-{uuid.uuid4().hex[:8]}"
    job = {"id": uuid.uuid4().hex, "kind": "export", "archive": archive,
           "key": sealed.new_key_pair()[1]}  # fmt: skip
    exported = subprocess.run(
        [str(env.python), "-c", _EXPORT],
        input=json.dumps({"job": job, "db_url": source.url, "fernet_key": source.fixture.fernet_key}),
        capture_output=True, text=True, env={**environ, **s3}, timeout=600,
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr[-3000:]
    assert json.loads(exported.stdout)["rows"] > 0
    inspected = airshift("inspect", archive, "--json", env=s3)
    assert inspected.returncode == 0, inspected.stderr[-1500:]
    rows = {t["name"]: t["rows"] for t in json.loads(inspected.stdout)["tables"]}
    assert rows == json.loads(exported.stdout)["tables"] and rows["task_instance"] > 0
    read = subprocess.run(
        [str(env.python), "-c", _READ, archive], capture_output=True, text=True,
        env={**environ, **s3}, timeout=600,
    )  # fmt: skip
    assert read.returncode == 0, read.stderr[-3000:]
    pyarrow = Version(now["pyarrow"])
    assert ("refused:" in read.stdout) == (pyarrow < Version("14.0.1")), read.stdout
    if "ruff" in extra and Version(extra["ruff"]) < Version(tools.RUFF.minimum):
        (tmp_path / "dags").mkdir()
        (tmp_path / "dags" / "d.py").write_text("from airflow import DAG\n")
        check = subprocess.run(
            [str(env.python), "-m", "airshift", "code", "check", str(tmp_path / "dags"),
             "--target", "3.3"],
            capture_output=True, text=True, env=environ,
        )  # fmt: skip
        assert check.returncode == 2, check.stderr[-1500:]
        assert "needs ruff 0.12 or newer" in " ".join(check.stderr.split())
        assert f"finds ruff {extra['ruff']}" in " ".join(check.stderr.split())
        assert "Traceback" not in check.stderr
