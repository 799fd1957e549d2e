"""Find, in a target Airflow, where each source name lives now; runs *inside* that Airflow.

Why in the target: only the target can say that ``airflow.utils.types.NOTSET`` now resolves to
the class ``ArgNotSet`` (a loose redirect) while the sentinel lives elsewhere. For every source
name that no longer imports cleanly, the same object is looked for among the target's public
modules (core, Task SDK, installed providers): a class by its qualified name, a function by its
qualified name, a sentinel by its type and name; a candidate counts only when importing it in
this process gives an object of the same kind. Usage:
python target_homes.py SOURCE.json OUT.json          (search)
python target_homes.py --verify MOVES.json OUT.json  (re-check every verified move)
"""

import ast
import importlib
import inspect
import json
import pkgutil
import sys
import warnings

SEARCH_ROOTS = ("airflow",)
SKIPPED = (
    "airflow.api",
    "airflow.api_fastapi",
    "airflow.cli",
    "airflow.migrations",
    "airflow.www",
    "airflow.ui",
    "airflow.example_dags",
    "airflow.jobs",
    "airflow.dag_processing",
    "airflow.executors",
    "airflow._shared",
    "airflow.sdk._shared",
)


def describe(obj):
    if inspect.ismodule(obj):
        return {"kind": "module", "module": obj.__name__, "qualname": ""}
    if inspect.isclass(obj):
        kind = "class"
    elif inspect.isroutine(obj):
        kind = "function"
    else:
        cls = type(obj)
        return {"kind": "instance", "module": cls.__module__, "qualname": cls.__qualname__}
    return {
        "kind": kind,
        "module": getattr(obj, "__module__", "") or "",
        "qualname": getattr(obj, "__qualname__", "") or "",
    }


def resolve(path):
    """The object at ``module.name`` (or a module), with deprecation warnings recorded."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module, _, name = path.rpartition(".")
        try:  # ``from module import name`` looks at the attribute before the submodule
            obj = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            obj = importlib.import_module(path)
    deprecated = any(
        issubclass(w.category, DeprecationWarning | FutureWarning)
        or "deprecat" in str(w.message).lower()
        for w in caught
    )
    return obj, deprecated


def same_kind(source, obj):
    """Whether ``obj`` is the kind of object the source name was (class for a class, ...)."""
    found = describe(obj)
    if found["kind"] != source["kind"]:
        return False
    if source["kind"] in ("class", "function", "instance"):
        return found["qualname"] == source["qualname"]
    return True


def provider_roots():
    """``airflow.providers.X`` packages: namespace folders that pkgutil does not descend."""
    import os

    import airflow.providers

    roots = []
    for base in airflow.providers.__path__:
        for folder, dirs, files in os.walk(base):
            if "__init__.py" in files:
                relative = os.path.relpath(folder, base).replace(os.sep, ".")
                roots.append(f"airflow.providers.{relative}")
                dirs.clear()  # walk_packages takes it from here
    return sorted(roots)


def walk():
    """Every importable public module under the search roots (private parts skipped)."""
    warnings.simplefilter("ignore")
    for root in (*SEARCH_ROOTS, *provider_roots()):
        try:
            package = importlib.import_module(root)
        except BaseException:
            continue
        yield package
        for info in pkgutil.walk_packages(package.__path__, root + ".", onerror=lambda _: None):
            name = info.name
            if any(p.startswith("_") and p != "_internal" for p in name.split(".")):
                continue
            if name.startswith(SKIPPED) or ".tests" in name or ".example_dags" in name:
                continue
            try:
                yield importlib.import_module(name)
            except BaseException:
                continue


def assigned_names(module):
    """Top-level names a module assigns itself (where a sentinel is defined)."""
    try:
        tree = ast.parse(inspect.getsource(module))
    except (OSError, TypeError, SyntaxError):
        return set()
    found = set()
    for node in ast.walk(tree):
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        if isinstance(node, ast.Assign | ast.AnnAssign):
            found |= {t.id for t in targets if isinstance(t, ast.Name)}
    return found


def build_index():
    """(kind, qualname, name) -> [(path, object)] for objects offered by a public module."""
    index = {}
    for module in walk():
        exported = set(getattr(module, "__all__", ()) or ())
        assigned = None
        for name in sorted(set(vars(module)) | exported):  # __all__ names may load lazily
            if name.startswith("_"):
                continue
            try:
                obj = getattr(module, name)
            except BaseException:
                continue
            desc = describe(obj)
            if desc["kind"] == "module":
                continue
            if desc["kind"] in ("class", "function"):
                offered = desc["module"] == module.__name__ or name in exported
            else:
                if assigned is None:
                    assigned = assigned_names(module)
                offered = name in exported or name in assigned
            if offered:
                key = (desc["kind"], desc["qualname"], name)
                index.setdefault(key, []).append((f"{module.__name__}.{name}", obj))
    return index


def _foreign(record):
    return not record["module"].startswith("airflow")


def _foreign_home(source):
    """The public home of a re-exported object (``_functools.reduce`` is ``functools.reduce``)."""
    module = source["module"]
    for candidate in dict.fromkeys([module.lstrip("_"), module]):
        if any(p.startswith("_") for p in candidate.split(".")):
            continue
        home = f"{candidate}.{source['qualname']}"
        try:
            found, _ = resolve(home)
        except BaseException:
            continue
        if same_kind(source, found):
            return [home]
    return []


def rank(path):
    """Prefer the Task SDK, then the standard provider (where core operators went), then core
    and other providers, compatibility shims last; then no private parts, then short paths."""
    if path.startswith("airflow.sdk"):
        tier = 0
    elif path.startswith("airflow.providers.standard"):
        tier = 1
    elif path.startswith("airflow.providers.common.compat"):
        tier = 3
    else:
        tier = 2
    private = any(p.startswith("_") for p in path.split("."))
    return (tier, private, len(path.split(".")), path)


def home_for(old, source, index):
    """The move for one source name: its status on the target and where the object lives."""
    entry = {"kind": source["kind"], "qualname": source["qualname"]}
    try:
        obj, deprecated = resolve(old)
    except BaseException:
        obj, deprecated, status = None, False, "missing"
    else:
        if not same_kind(source, obj):
            status = "changed"  # the old path gives another kind of object now
            entry["old_now"] = describe(obj)
        else:
            status = "redirected" if deprecated else "same"
    if status == "same" or (status == "changed" and _foreign(source)):
        return None  # a re-exported ``typing.Callable`` that is now ``collections.abc``'s
    entry["status"] = status
    if source["kind"] == "module":
        entry["new"] = None
        return entry
    if _foreign(source):  # a re-export: ``datetime`` from airflow.utils.dates
        entry["candidates"] = _foreign_home(source)
        entry["new"] = entry["candidates"][0] if entry["candidates"] else None
        entry["verified"] = entry["new"] is not None
        entry["anchor"] = entry["new"]
        return entry
    home = source.get("home", old)
    if home != old:  # a re-export: the module that defined it in the source may still have it
        try:
            at_home, home_deprecated = resolve(home)
        except BaseException:
            at_home = None
        if at_home is not None and same_kind(source, at_home):
            if not home_deprecated:
                entry.update(candidates=[home], new=home, verified=True, anchor=home)
                return entry
            obj = at_home  # its redirect names the object to look for
    name = old.rpartition(".")[2]
    found = index.get((source["kind"], source["qualname"], name), [])
    if not found and source["kind"] in ("class", "function"):
        found = [
            item
            for key, items in index.items()
            if key[:2] == (source["kind"], source["qualname"])
            for item in items
        ]
    objects = {}
    for path, candidate in found:
        objects.setdefault(id(candidate), (candidate, []))[1].append(path)
    if obj is not None and id(obj) in objects:
        chosen = [objects[id(obj)]]  # the target's own redirect names the object
    else:
        chosen = list(objects.values())
    entry["candidates"] = sorted({p for _, paths in chosen for p in paths}, key=rank)
    entry["verified"] = len(chosen) == 1
    entry["new"] = entry["candidates"][0] if entry["candidates"] else None
    if chosen and len(chosen) == 1:
        entry["anchor"] = _anchor(chosen[0][0], chosen[0][1])
    return entry


def _anchor(obj, paths):
    """The defining path of the object (its own module), used to re-verify with ``is``."""
    desc = describe(obj)
    if desc["kind"] in ("class", "function"):
        own = f"{desc['module']}.{desc['qualname']}"
        if own in paths:
            return own
    return sorted(paths, key=len)[0]


def search(source_file, out):
    with open(source_file) as fh:
        source = json.load(fh)
    index = build_index()
    moves = {}
    for old, record in sorted(source["names"].items()):
        entry = home_for(old, record, index)
        if entry is not None:
            moves[old] = entry
    with open(out, "w") as fh:
        json.dump(moves, fh, sort_keys=True)


def _installed(path):
    """Whether the module of ``path`` can be imported here. A provider this runtime lacks, or a
    third-party package a module needs (``kubernetes``), makes the move uncheckable here; a
    missing Airflow core module is a real problem, reported by ``verify``."""
    module = path.rpartition(".")[0]
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing and (module == missing or module.startswith(missing + ".")):
            return missing.startswith("airflow") and not missing.startswith("airflow.providers")
        return False
    except ImportError:
        return True
    return True


def verify(moves_file, out):
    """For every verified move: the new path resolves, is the same kind, is the anchor object."""
    with open(moves_file) as fh:
        moves = json.load(fh)["moves"]
    problems, checked, unchecked = {}, 0, 0
    for old, entry in moves.items():
        if not entry.get("verified"):
            continue
        if not (_installed(entry["new"]) and _installed(entry["anchor"])):
            unchecked += 1
            continue
        checked += 1
        try:
            obj, _ = resolve(entry["new"])
            anchor, _ = resolve(entry["anchor"])
        except BaseException as exc:
            problems[old] = f"{type(exc).__name__}: {exc}"
            continue
        if not same_kind(entry, obj):
            problems[old] = f"{entry['new']} is {describe(obj)}"
        elif obj is not anchor:
            problems[old] = f"{entry['new']} is not the same object as {entry['anchor']}"
    with open(out, "w") as fh:
        json.dump({"checked": checked, "unchecked": unchecked, "problems": problems}, fh)


if __name__ == "__main__":
    if sys.argv[1] == "--verify":
        verify(sys.argv[2], sys.argv[3])
    else:
        search(sys.argv[1], sys.argv[2])
