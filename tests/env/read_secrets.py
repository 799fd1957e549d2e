"""Runs inside a real Airflow runtime: read connections and variables through its secrets backends.

The backend is configured the way an environment would be (``AIRFLOW__SECRETS__BACKEND`` and
``..._KWARGS``) and loaded by Airflow's own ``ensure_secrets_loaded``; argv[2] names the one to
ask (default ``SecretsManagerBackend``; ``MetastoreBackend`` reads the metadata database).
Prints one JSON line.
"""

import json
import sys

from airflow.configuration import ensure_secrets_loaded

FIELDS = ("conn_type", "host", "schema", "login", "password", "port", "extra")

wanted = json.loads(sys.argv[1])
name = sys.argv[2] if len(sys.argv) > 2 else "SecretsManagerBackend"
backend = next(b for b in ensure_secrets_loaded() if type(b).__name__ == name)
found = {"connections": {}, "variables": {}}
for conn_id in wanted["connections"]:
    conn = backend.get_connection(conn_id)
    found["connections"][conn_id] = conn and {f: getattr(conn, f) for f in FIELDS}
for key in wanted["variables"]:
    found["variables"][key] = backend.get_variable(key)
print("@@SECRETS@@" + json.dumps(found))
