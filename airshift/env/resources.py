"""``env resources``: the DAG folder, requirements, plugins and startup script, upgraded and moved.

Why through ``code upgrade``: files made for Airflow 2 break on Airflow 3 (moved imports,
removed arguments, constraints of the old version), so they are read from the source
environment's bucket (the exact object versions it runs) or a local project, upgraded for
the target's version on a temporary copy, shown as a diff with what is left to fix, and
only with ``write`` put at the target's paths. Unchanged objects are not uploaded again,
files only the target has are left alone, and nothing is ever written to the source: a
target path that is one of the source's is refused. Requirements, plugins and the startup
script are versioned objects the environment names; after an upload their new versions
are set with UpdateEnvironment (a live target) or recorded in the plan file (a target not
created yet, so that ``env create`` starts it with them).
"""

from __future__ import annotations

import base64
import hashlib
import io
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path, PurePosixPath
from typing import Any

from airshift.code.check import CheckOptions
from airshift.code.config import translated_name
from airshift.code.project import SKIPPED_DIRS
from airshift.code.upgrade import UpgradeResult, upgrade_project
from airshift.env import aws, create, model
from airshift.env.source import Environment, is_mwaa_url, read_environment
from airshift.errors import AirshiftError

# The versioned files of an environment: (kind, path setting, version setting, project file).
VERSIONED = (
    ("requirements", "RequirementsS3Path", "RequirementsS3ObjectVersion", "requirements.txt"),
    ("plugins", "PluginsS3Path", "PluginsS3ObjectVersion", "plugins.zip"),
    ("startup", "StartupScriptS3Path", "StartupScriptS3ObjectVersion", "startup.sh"),
)
_FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # a re-built plugins.zip is byte-identical run to run


class Action(str, Enum):
    NEW = "new"
    CHANGED = "changed"
    UNCHANGED = "unchanged"
    TARGET_ONLY = "target only"  # in the target's DAG folder, not the source's: left alone


@dataclass(frozen=True)
class FilePlan:
    """One object at the target: what happens to it."""

    kind: str  # dag, requirements, plugins, startup
    key: str
    action: Action
    size: int = 0
    version: str | None = None  # the object version after --write (versioned kinds)


@dataclass
class ResourcesResult:
    source: str
    target: str
    target_version: str
    upgrade: UpgradeResult
    files: list[FilePlan] = field(default_factory=list)
    update: dict[str, Any] | None = None  # UpdateEnvironment request, or the plan's new fields
    written: bool = False
    notes: list[str] = field(default_factory=list)


@dataclass
class _Target:
    """Where the files go: a live environment (``name``) or a plan file (``plan``)."""

    version: str
    bucket: str
    paths: dict[str, str]  # setting -> key
    current: dict[str, str | None]  # setting -> what the environment names today
    name: str | None = None
    region: str | None = None
    plan: Path | None = None
    request: dict[str, Any] | None = None


def move_resources(
    source: str,
    target: str,
    write: bool = False,
    options: CheckOptions | None = None,
    mwaa: Any | None = None,
    s3: Any | None = None,
    log: Callable[[str], None] = lambda message: None,
) -> ResourcesResult:
    """Upgrade the source's files for the target's Airflow and (``write``) put them there."""
    goal = _resolve_target(target, mwaa)
    s3 = s3 or aws.client("s3", goal.region)
    origin = None if Path(source).is_dir() else read_environment(source, mwaa)
    if origin is not None:
        _refuse_overlap(origin, goal)
    with tempfile.TemporaryDirectory(prefix="airshift-resources-") as tmp:
        project, original_zip = Path(tmp) / "project", Path(tmp) / "original-plugins.zip"
        if origin is not None:
            log(f"reading {origin.name}'s files from s3://{origin.bucket}")
            _fetch(origin, s3, project, original_zip)
        else:
            _copy_local(Path(source), project, original_zip)
        log(f"upgrading them for Airflow {goal.version}")
        upgraded = upgrade_project(
            str(project), goal.version, True, options or CheckOptions(log=log)
        )
        result = ResourcesResult(source, target, goal.version, upgraded)
        contents = _contents(project, original_zip, upgraded, goal)
        result.files = _compare(contents, goal, s3)
        if write:
            _write(result, contents, goal, s3, mwaa, log)
        else:
            result.update = _update_fields(result.files, goal)
    return result


def _resolve_target(target: str, mwaa: Any | None) -> _Target:
    if is_mwaa_url(target):
        env = read_environment(target, mwaa)
        current = {s: env.path(s) for s in ("DagS3Path", *[v[1] for v in VERSIONED])}
        current |= {v[2]: env.data.get(v[2]) for v in VERSIONED}
        return _Target(
            env.version,
            env.bucket,
            _default_paths(env.data),
            current,
            name=env.name,
            region=env.arn.region,
        )
    request = create.read_plan(target)
    return _Target(
        request["AirflowVersion"],
        aws.bucket_name(request["SourceBucketArn"]),
        _default_paths(request),
        {k: request.get(k) for k in request},
        plan=Path(target),
        request=request,
    )


def _default_paths(settings: dict[str, Any]) -> dict[str, str]:
    """The target's keys: its own settings, else next to its DAG folder (``x/dags`` -> ``x/requirements.txt``)."""
    dags = settings["DagS3Path"].strip("/")
    parent = PurePosixPath(dags).parent
    base = "" if str(parent) == "." else f"{parent}/"
    paths = {"DagS3Path": dags}
    for _, path_key, _, filename in VERSIONED:
        paths[path_key] = (settings.get(path_key) or f"{base}{filename}").lstrip("/")
    return paths


def _refuse_overlap(origin: Environment, goal: _Target) -> None:
    """Nothing is written to the source: no target key may be one of the source's."""
    if origin.bucket != goal.bucket:
        return
    source_dags = origin.path("DagS3Path").strip("/") + "/"  # type: ignore[union-attr]
    target_dags = goal.paths["DagS3Path"] + "/"
    clashes = []
    if source_dags.startswith(target_dags) or target_dags.startswith(source_dags):
        clashes.append(
            f"the DAG folders s3://{goal.bucket}/{source_dags} and {target_dags} overlap"
        )
    for _, path_key, _, _ in VERSIONED:
        if origin.path(path_key) and origin.path(path_key).lstrip("/") == goal.paths[path_key]:  # type: ignore[union-attr]
            clashes.append(
                f"{path_key} is the source's own s3://{goal.bucket}/{goal.paths[path_key]}"
            )
    if clashes:
        raise AirshiftError(
            "airshift writes nothing to the source environment, and here "
            + "; ".join(clashes)
            + ". Give the target its own prefix (env plan --prefix)."
        )


def _fetch(origin: Environment, s3: Any, project: Path, original_zip: Path) -> None:
    """The source's DAG folder and the exact object versions it runs, laid out as a project."""
    bucket = origin.bucket
    prefix = origin.path("DagS3Path").strip("/") + "/"  # type: ignore[union-attr]
    (project / "dags").mkdir(parents=True)
    with aws.calling(f"reading s3://{bucket}/{prefix}"):
        for key in _keys(s3, bucket, prefix):
            relative = _safe_relative(key[len(prefix) :])
            if relative is None:
                continue
            path = project / "dags" / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    for kind, path_key, version_key, filename in VERSIONED:
        object_key = origin.path(path_key)
        if object_key is None:
            continue
        version = origin.data.get(version_key)
        extra = {"VersionId": version} if version and version != "null" else {}
        with aws.calling(f"reading s3://{bucket}/{object_key}"):
            data = s3.get_object(Bucket=bucket, Key=object_key.lstrip("/"), **extra)["Body"].read()
        if kind == "plugins":
            original_zip.write_bytes(data)
            _unzip(data, project / "plugins")
        else:
            (project / filename).write_bytes(data)


def _copy_local(folder: Path, project: Path, original_zip: Path) -> None:
    if not (folder / "dags").is_dir():
        raise AirshiftError(
            f"{folder} has no dags/ folder; a local project for env resources holds dags/ and "
            "optionally requirements.txt, plugins/ or plugins.zip and startup.sh."
        )
    shutil.copytree(folder, project, symlinks=False, ignore=shutil.ignore_patterns(*SKIPPED_DIRS))
    if (project / "plugins.zip").is_file() and not (project / "plugins").is_dir():
        data = (project / "plugins.zip").read_bytes()
        original_zip.write_bytes(data)
        (project / "plugins.zip").unlink()
        _unzip(data, project / "plugins")


def _unzip(data: bytes, dest: Path) -> None:
    """Extract plugins.zip so its code is checked and fixed; an unreadable one stays as it is."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for member in archive.infolist():
                if _safe_relative(member.filename) is not None:
                    archive.extract(member, dest)
    except (zipfile.BadZipFile, OSError, ValueError):
        shutil.rmtree(dest, ignore_errors=True)


def _safe_relative(name: str) -> PurePosixPath | None:
    """A key or member name as a relative path, or None for folder markers and escapes."""
    path = PurePosixPath(name)
    if not name or name.endswith("/") or path.is_absolute() or ".." in path.parts:
        return None
    return path


def _keys(s3: Any, bucket: str, prefix: str) -> Iterator[str]:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            yield item["Key"]


@dataclass(frozen=True)
class _Content:
    kind: str
    key: str
    data: bytes


def _contents(
    project: Path, original_zip: Path, upgraded: UpgradeResult, goal: _Target
) -> list[_Content]:
    """The bytes to put at each target key, after the upgrade."""
    dags = goal.paths["DagS3Path"]
    found = [
        _Content(
            "dag", f"{dags}/{path.relative_to(project / 'dags').as_posix()}", path.read_bytes()
        )
        for path in sorted((project / "dags").rglob("*"))
        if path.is_file() and not SKIPPED_DIRS.intersection(path.relative_to(project).parts)
    ]
    requirements = project / "requirements.txt"
    translated = translated_name(requirements, goal.version)
    if translated.is_file():
        requirements = translated
    if requirements.is_file():
        found.append(
            _Content("requirements", goal.paths["RequirementsS3Path"], requirements.read_bytes())
        )
    plugins = project / "plugins"
    plugins_changed = any(c.display.startswith("plugins/") for c in upgraded.changes)
    if original_zip.is_file() and not plugins_changed:
        found.append(_Content("plugins", goal.paths["PluginsS3Path"], original_zip.read_bytes()))
    elif plugins.is_dir():
        found.append(_Content("plugins", goal.paths["PluginsS3Path"], _zip(plugins)))
    startup = project / "startup.sh"
    if startup.is_file():
        found.append(_Content("startup", goal.paths["StartupScriptS3Path"], startup.read_bytes()))
    return found


def _zip(folder: Path) -> bytes:
    """plugins.zip of ``folder`` with fixed timestamps, so the same files give the same bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not SKIPPED_DIRS.intersection(path.relative_to(folder).parts):
                info = zipfile.ZipInfo(path.relative_to(folder).as_posix(), _FIXED_ZIP_TIME)
                info.external_attr = (path.stat().st_mode & 0o777) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


def _compare(contents: list[_Content], goal: _Target, s3: Any) -> list[FilePlan]:
    """New, changed or unchanged against what is at the target now (by MD5, S3's ETag)."""
    prefix = goal.paths["DagS3Path"] + "/"
    with aws.calling(f"listing s3://{goal.bucket}/{prefix}"):
        existing = _etags(s3, goal.bucket, prefix)
        for content in contents:
            if content.kind != "dag":
                existing |= _head_etag(s3, goal.bucket, content.key)
    files = []
    for content in contents:
        etag = existing.pop(content.key, None)
        action = (
            Action.NEW
            if etag is None
            else Action.UNCHANGED
            if etag == hashlib.md5(content.data).hexdigest()
            else Action.CHANGED
        )
        files.append(FilePlan(content.kind, content.key, action, len(content.data)))
    files += [
        FilePlan("dag", key, Action.TARGET_ONLY)
        for key in sorted(existing)
        if key.startswith(prefix)
    ]
    return files


def _etags(s3: Any, bucket: str, prefix: str) -> dict[str, str]:
    found = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            found[item["Key"]] = item["ETag"].strip('"')
    return found


def _head_etag(s3: Any, bucket: str, key: str) -> dict[str, str]:
    from botocore.exceptions import ClientError

    try:
        return {key: s3.head_object(Bucket=bucket, Key=key)["ETag"].strip('"')}
    except ClientError as exc:
        if aws.error_code(exc) in ("404", "NoSuchKey", "NotFound"):
            return {}
        raise


def _write(
    result: ResourcesResult,
    contents: list[_Content],
    goal: _Target,
    s3: Any,
    mwaa: Any | None,
    log: Callable[[str], None],
) -> None:
    bucket = goal.bucket
    with aws.calling(f"GetBucketVersioning {bucket}"):
        if s3.get_bucket_versioning(Bucket=bucket).get("Status") != "Enabled":
            raise AirshiftError(f"s3://{bucket} has versioning off; MWAA needs a versioned bucket.")
    plans = {f.key: f for f in result.files}
    for content in contents:
        plan = plans[content.key]
        version = None
        if plan.action is not Action.UNCHANGED:
            log(f"uploading s3://{bucket}/{content.key}")
            md5 = base64.b64encode(hashlib.md5(content.data).digest()).decode()
            with aws.calling(f"uploading s3://{bucket}/{content.key}"):
                response = s3.put_object(
                    Bucket=bucket, Key=content.key, Body=content.data, ContentMD5=md5
                )
            version = response.get("VersionId")
        elif content.kind != "dag":
            with aws.calling(f"reading s3://{bucket}/{content.key}"):
                version = s3.head_object(Bucket=bucket, Key=content.key).get("VersionId")
        plans[content.key] = FilePlan(plan.kind, plan.key, plan.action, plan.size, version)
    result.files = [plans.get(f.key, f) for f in result.files]
    result.update = _update_fields(result.files, goal)
    if result.update and goal.plan is not None:
        assert goal.request is not None
        goal.request.update(result.update)
        model.validate("CreateEnvironment", goal.request)
        create.write_plan(goal.plan, goal.request)
        log(f"recorded the new object versions in {goal.plan}")
    elif result.update:
        request = {"Name": goal.name, **result.update}
        model.validate("UpdateEnvironment", request)
        log(f"UpdateEnvironment {goal.name}: {', '.join(sorted(result.update))}")
        mwaa = mwaa or aws.client("mwaa", goal.region)
        with aws.calling(f"UpdateEnvironment {goal.name}"):
            mwaa.update_environment(**request)
    result.written = True


def _update_fields(files: list[FilePlan], goal: _Target) -> dict[str, Any] | None:
    """The path and version settings that differ from what the target names today."""
    fields: dict[str, Any] = {}
    by_kind = {f.kind: f for f in files if f.kind != "dag"}
    for kind, path_key, version_key, _ in VERSIONED:
        file = by_kind.get(kind)
        if file is None:
            continue
        if goal.current.get(path_key) != file.key or file.action is not Action.UNCHANGED:
            fields[path_key] = file.key
            if file.version:
                fields[version_key] = file.version
        elif file.version and goal.current.get(version_key) != file.version:
            fields[path_key], fields[version_key] = file.key, file.version
    return fields or None
