"""A corpus of real DAGs nobody on the team wrote: example DAGs shipped in old provider wheels.

Why these: apache-airflow-providers-google 4.0.0 (June 2021, the Airflow 2.0/2.1 era) still
shipped ``example_dags`` inside the wheel; they are real, varied, early-2.x DAGs (``days_ago``,
``schedule_interval``). 6.8.0 (April 2022) is the second data point in docs/code-check.md. The wheel is fetched
at test time into airshift's cache with ``pip download --no-deps`` and never committed. Each
file is then imported three ways by one real Airflow 3 DagBag (in a venv with the current
Google provider): as shipped, after ``ruff check --select AIR --fix``, and after
``airshift code upgrade --write``. Run ``python tests/code/test_code_provider_corpus.py`` to print the
numbers that docs/code-check.md quotes.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from ruff.__main__ import find_ruff_bin

from airshift import airflow_env
from airshift.code.check import CheckOptions, check_project
from airshift.code.findings import Severity
from airshift.code.import_check import import_errors
from airshift.code.upgrade import upgrade_project

PACKAGE = "apache-airflow-providers-google"
OLD_VERSION = "4.0.0"
TARGET = "3.3.2"
VARIANTS = ("original", "ruff", "airshift")
RUNTIME_ONLY_RULES = {"AS130", "AS131", "AS150"}  # break when tasks run, not on import


def fetch_examples(package: str = PACKAGE, version: str = OLD_VERSION) -> Path:
    """The wheel's example DAGs, flattened into one DAG folder under the cache (fetched once)."""
    folder = airflow_env.cache_dir() / "corpus" / f"{package}-{version}"
    dags = folder / "dags"
    if not (folder / ".complete").exists():
        shutil.rmtree(folder, ignore_errors=True)
        wheel_dir = folder / "wheel"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--no-deps",
                "-d",
                str(wheel_dir),
                f"{package}=={version}",
            ],
            check=True,
        )
        with zipfile.ZipFile(next(wheel_dir.glob("*.whl"))) as wheel:
            for name in wheel.namelist():
                parts = Path(name).parts
                if (
                    "example_dags" in parts
                    and name.endswith(".py")
                    and not name.endswith("__init__.py")
                ):
                    target = (
                        dags
                        / "_".join(
                            parts[parts.index("providers") + 1 : parts.index("example_dags")]
                        )
                        / parts[-1]
                    )
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(wheel.read(name))
        (folder / ".complete").write_text(version)
    return dags


@dataclass
class CorpusResult:
    """Per variant, the files that import cleanly; and check's static prediction per file."""

    files: list[str]
    clean: dict[str, set[str]]
    predicted_breaks: set[str]

    def table(self) -> str:
        rows = [
            f"{variant}: {len(self.clean[variant])}/{len(self.files)} import cleanly"
            for variant in VARIANTS
        ]
        return "\n".join(rows)

    def prediction(self) -> dict[str, int]:
        """Confusion counts of the static rules' prediction against the real DagBag (original files)."""
        fails = set(self.files) - self.clean["original"]
        return {
            "predicted_fail_and_fails": len(self.predicted_breaks & fails),
            "predicted_fail_but_imports": len(self.predicted_breaks - fails),
            "predicted_ok_but_fails": len(fails - self.predicted_breaks),
            "predicted_ok_and_imports": len(set(self.files) - fails - self.predicted_breaks),
        }


def build_variants(dags: Path, work: Path) -> Path:
    """``work/dags/{original,ruff,airshift}`` copies of the corpus, fixed each way."""
    root = work / "dags"
    shutil.rmtree(work, ignore_errors=True)
    for variant in VARIANTS:
        shutil.copytree(dags, root / variant)
    subprocess.run(
        [
            find_ruff_bin(),
            "check",
            "--isolated",
            "--no-cache",
            "--select",
            "AIR",
            "--fix",
            "--exit-zero",
            str(root / "ruff"),
        ],
        check=True,
        capture_output=True,
    )
    upgrade_project(
        str(root / "airshift"),
        TARGET,
        write=True,
        options=CheckOptions(import_check=False, resolve=False),
    )
    return root


def run_corpus(work: Path, version: str = OLD_VERSION) -> CorpusResult:
    dags = fetch_examples(PACKAGE, version)
    root = build_variants(dags, work)
    env = airflow_env.ensure(TARGET, extras=[PACKAGE])
    files = sorted(p.relative_to(dags).as_posix() for p in dags.rglob("*.py"))
    folders = [root / variant for variant in VARIANTS]
    errors = import_errors(env, folders)
    clean = {
        variant: set(files) - {p.relative_to(folder).as_posix() for p in errors[folder]}
        for variant, folder in zip(VARIANTS, folders, strict=True)
    }
    report = check_project(
        str(dags.parent), TARGET, CheckOptions(import_check=False, resolve=False)
    )
    predicted = {
        f.file.removeprefix("dags/")
        for f in report.findings
        if f.severity is Severity.BREAKS and f.rule not in RUNTIME_ONLY_RULES
    }
    return CorpusResult(files, clean, predicted)


@pytest.mark.slow
def test_provider_example_dags_on_real_airflow3(tmp_path: Path) -> None:
    """More example DAGs import on real Airflow 3 after airshift than after ruff's fixes alone,
    and the static rules never call a file fine that the real DagBag rejects."""
    result = run_corpus(tmp_path / "work")
    print(result.table(), result.prediction())
    assert len(result.files) == 82
    assert (
        len(result.clean["airshift"]) > len(result.clean["ruff"]) >= len(result.clean["original"])
    )
    assert result.clean["ruff"] <= result.clean["airshift"]  # nothing ruff rescues is lost
    assert result.prediction()["predicted_ok_but_fails"] == 0


if __name__ == "__main__":
    version = sys.argv[1] if len(sys.argv) > 1 else OLD_VERSION
    result = run_corpus(airflow_env.cache_dir() / "corpus" / "work", version)
    print(result.table())
    print(json.dumps(result.prediction(), indent=2))
