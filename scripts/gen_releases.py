"""Regenerate airshift/data/releases.json: the upload time of every Airflow release.

Why: runtimes resolve their dependencies as of their release's date
(airshift/runtimes/releases.py). Shipping the dates lets airshift do that without asking
the index first, and makes the rule reviewable in the repository. Releases newer than
this file are looked up at run time, with a note; re-run this script when one appears.

Usage: python scripts/gen_releases.py [INDEX_URL]   (default: PyPI's simple API)
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path

from packaging.version import Version

from airshift.runtimes import releases

OUT = Path(__file__).resolve().parent.parent / "airshift" / "data" / "releases.json"
OLDEST = Version("2.0.0")  # airshift's revision data starts with Airflow 2


def main() -> None:
    index = sys.argv[1] if len(sys.argv) > 1 else releases.PYPI_SIMPLE
    times = releases.upload_times(index)
    keep = {v: t for v, t in times.items() if Version(v) >= OLDEST}
    data = {
        "about": "Upload time (UTC) of each apache-airflow release; made by scripts/gen_releases.py",
        "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
        "index": index,
        "releases": dict(sorted(keep.items(), key=lambda kv: Version(kv[0]))),
    }
    OUT.write_text(json.dumps(data, indent=1) + "\n")
    print(f"{OUT}: {len(keep)} releases, newest {max(keep, key=Version)}")


if __name__ == "__main__":
    main()
