"""``airshift agent bundle``: the agent's wheels for an environment without a package index.

Why: private Amazon MWAA environments (and many corporate ones) install requirements from
wheels shipped in plugins.zip (``--find-links /usr/local/airflow/plugins --no-index``).
The bundle holds exactly what the agent adds to that environment: the environment's own
packages are resolved first (its Airflow release as of its release date, the runtime
rule of ``airshift.runtimes``), then the agent is resolved with all of them pinned, and
only the difference is downloaded, as wheels for the environment's Python and platform.
A resolution that would change a package the environment already has is refused:
installing it would break that environment.
"""

from __future__ import annotations

import re
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import airshift
from airshift.errors import AirshiftError
from airshift.runtimes import releases
from airshift.runtimes.venv import python_tag, run_tool, uv_binary

PLUGINS_DIR = "/usr/local/airflow/plugins"  # where MWAA unpacks plugins.zip
Log = Callable[[str], object]


def _pins(text: str) -> dict[str, str]:
    pins = {}
    for line in text.splitlines():
        m = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)", line.strip())
        if m:
            pins[m.group(1).lower().replace("_", "-")] = m.group(2)
    return pins


def _compile(
    requirements: list[str], python: str, platform: str, extra: list[str]
) -> dict[str, str]:
    out = run_tool(
        [
            uv_binary(),
            "pip",
            "compile",
            "-q",
            "--no-header",
            "--no-annotate",
            "--python-version",
            python,
            "--python-platform",
            platform,
            *extra,
            "-",
        ],
        f"resolve {' '.join(requirements)} for Python {python} on {platform}",
        stdin="\n".join(requirements),
    )
    return _pins(out)


def _airshift_wheel(dest: Path) -> Path:
    """This airshift as a wheel: built from its source tree, else from the package index."""
    root = Path(airshift.__file__).resolve().parents[1]
    project = root / "pyproject.toml"
    if project.is_file() and 'name = "airshift"' in project.read_text():
        run_tool(
            [uv_binary(), "build", "--wheel", "-q", "-o", str(dest), str(root)],
            "build airshift's wheel",
        )
    else:
        _pip_download([f"airshift=={airshift.__version__}"], dest, None, None)
    return next(dest.glob("airshift-*.whl"))


def _platform_tags(platform: str) -> list[str]:
    """pip's --platform tags for uv's ``ARCH-manylinux_2_N`` (every glibc up to 2.N)."""
    m = re.fullmatch(r"(x86_64|aarch64)-manylinux_2_(\d+)", platform)
    if not m:
        raise AirshiftError(
            f"--platform takes ARCH-manylinux_2_N (x86_64 or aarch64), not {platform!r}."
        )
    arch, glibc = m.group(1), int(m.group(2))
    return [f"manylinux_2_{n}_{arch}" for n in range(glibc, 16, -1)] + [
        f"manylinux2014_{arch}",
        "linux_" + arch,
    ]


def _pip_download(specs: list[str], dest: Path, python: str | None, platform: str | None) -> None:
    with tempfile.TemporaryDirectory(prefix="airshift-pip-") as tmp:
        run_tool([uv_binary(), "venv", "-q", "--seed", tmp], "create a helper venv")
        cross = []
        if python and platform:
            cross = ["--only-binary=:all:", "--python-version", python]
            for tag in _platform_tags(platform):
                cross += ["--platform", tag]
        run_tool(
            [f"{tmp}/bin/pip", "download", "-q", "--no-deps", *cross, "-d", str(dest), *specs],
            f"download {len(specs)} wheels",
        )


def bundle(
    version: str,
    out: Path,
    python: str | None,
    platform: str,
    constraints: Path | None = None,
    log: Log = print,
) -> dict:
    """Write the wheels the agent adds to an Airflow ``version`` environment into ``out``
    (a .zip for plugins.zip, else a new folder); returns what was bundled.

    The environment's packages are those of ``constraints`` (the constraints file it
    installs with, such as MWAA's) when given, else Airflow's own as of its release."""
    if out.exists() and (out.is_file() or any(out.iterdir())):
        raise AirshiftError(f"{out} exists: give a new plugins.zip path or an empty folder.")
    python = python or python_tag().removeprefix("cpython")
    with tempfile.TemporaryDirectory(prefix="airshift-bundle-") as tmp:
        work = Path(tmp)
        wheel = _airshift_wheel(work / "self")
        airflow = [f"apache-airflow=={version}"]
        if constraints is not None:
            # A constraints file (MWAA's) also pins packages the environment lacks (ruff,
            # pyarrow): what it has is Airflow resolved under them; the rest is bundled.
            pins = constraints
            log(f"resolving Airflow {version}'s own packages under {constraints.name}")
            base = _compile(airflow, python, platform, ["-c", str(pins)])
        else:
            resolution = releases.resolve(version, note=log)
            log(f"resolving Airflow {version}'s own packages as of {resolution.cutoff_text}")
            cutoff = ["--exclude-newer", resolution.cutoff_text]
            base = _compile(airflow, python, platform, cutoff)
            pins = work / "environment.txt"
            pins.write_text("".join(f"{n}=={v}\n" for n, v in base.items()))
        log("resolving the agent with every one of them pinned")
        try:
            full = _compile(
                [*airflow, f"airshift[agent] @ {wheel.as_uri()}"],
                python,
                platform,
                ["-c", str(pins)],
            )
        except AirshiftError as exc:
            raise AirshiftError(
                f"The agent cannot be installed into Airflow {version} without changing packages "
                f"the environment has pinned:\n{exc.message}\n(docs/agent.md, 'Compatibility', "
                "lists the releases the agent supports today.)"
            ) from None
        added = {n: v for n, v in full.items() if n not in base and n != "airshift"}
        wheels = work / "wheels"
        wheels.mkdir()
        log(f"downloading {len(added)} wheels for Python {python} on {platform}")
        if added:
            _pip_download([f"{n}=={v}" for n, v in sorted(added.items())], wheels, python, platform)
        (wheels / wheel.name).write_bytes(wheel.read_bytes())
        files = sorted(p.name for p in wheels.glob("*.whl"))
        if out.suffix == ".zip":
            with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
                for name in files:
                    zf.write(wheels / name, name)
        else:
            out.mkdir(parents=True, exist_ok=True)
            for name in files:
                (out / name).write_bytes((wheels / name).read_bytes())
    return {
        "out": str(out),
        "airflow": version,
        "python": python,
        "platform": platform,
        "wheels": files,
        "added_packages": added,
        "requirements": [
            f"--find-links {PLUGINS_DIR}",
            "--no-index",
            f"airshift[agent]=={airshift.__version__}",
        ],
    }
