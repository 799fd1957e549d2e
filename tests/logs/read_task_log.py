"""Read migrated logs with the installed Airflow's own log reader (run in its venv).

Usage: python read_task_log.py TRIES_JSON -> prints {"dag|task|run|map|try": text} as JSON.
It loads the TaskInstance (or TaskInstanceHistory for an earlier try) the way the REST API's
log endpoint does and calls TaskLogReader.read_log_chunks. The hostname is cleared on the
loaded object (never saved) so a missing file cannot fall back to fetching from a worker's
log server over the network.
"""

import json
import sys

from airflow.models.taskinstance import TaskInstance
from airflow.models.taskinstancehistory import TaskInstanceHistory
from airflow.utils.log.log_reader import TaskLogReader
from airflow.utils.session import create_session
from sqlalchemy import select


def _text(chunks):
    if isinstance(chunks, list):  # Airflow 2: [[(host, text), ...]]
        return "\n".join(text for host_logs in chunks for _, text in host_logs)
    return "\n".join(json.dumps(m.model_dump(mode="json"), sort_keys=True) for m in chunks)


def main():
    reader = TaskLogReader()
    out = {}
    with create_session() as session:
        for dag_id, task_id, run_id, map_index, try_number in json.loads(sys.argv[1]):
            found = None
            for model in (TaskInstance, TaskInstanceHistory):
                found = session.scalar(
                    select(model).where(
                        model.dag_id == dag_id,
                        model.task_id == task_id,
                        model.run_id == run_id,
                        model.map_index == map_index,
                        model.try_number == try_number,
                    )
                )
                if found is not None:
                    break
            key = f"{dag_id}|{task_id}|{run_id}|{map_index}|{try_number}"
            if found is None:
                out[key] = None
                continue
            found.hostname = None
            chunks, _ = reader.read_log_chunks(found, try_number, {"download_logs": True})
            out[key] = _text(chunks)
        session.rollback()
    print(json.dumps(out))


main()
