"""A report people read: one self-contained HTML file from a command's report data.

Why from ``as_dict()``: JSON stays the machine format and the HTML is made from the very
same data, so the two never disagree. The file carries its own style and no script, font,
image or link to anything outside it: it opens the same offline, attached to a ticket or
archived with the migration. Every count sits in an element naming what it counts
(``data-table``, ``data-count``), so a browser test can read the numbers back.
"""

from __future__ import annotations

import datetime as dt
from html import escape
from typing import Any

from airshift.metadata.importer import PHASES

_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:72em;color:#1c2430;padding:0 1em}
h1{font-size:1.6em;margin:0 0 .2em}h2{font-size:1.2em;margin:1.6em 0 .5em;border-bottom:1px solid #d5dae1}
.meta{color:#5a6472}.cards{display:flex;gap:1em;flex-wrap:wrap;margin:1em 0}
.card{border:1px solid #d5dae1;border-radius:6px;padding:.6em 1em;min-width:9em}
.card b{display:block;font-size:1.5em}
table{border-collapse:collapse;width:100%}th,td{padding:.25em .6em;border-bottom:1px solid #eceff3;text-align:left}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}tr.total td{font-weight:600;border-top:2px solid #c5ccd6}
.ok{color:#17733a}.bad{color:#b42318}.warn{color:#9a6700}ul{margin:.3em 0}
"""

# A merged table's counts, in the order shown: (key in the data, column heading).
_COUNTS = (
    ("staged", "seen"),
    ("inserted", "imported"),
    ("existing", "already there (skipped)"),
    ("conflicts", "conflicting"),
    ("overwritten", "deliberately changed"),
    ("newer_in_target", "kept (target newer)"),
    ("without_parent", "without parent"),
    ("differing", "differing after"),
)


def render(data: dict[str, Any]) -> str:
    """The HTML page for a migrate, import or cutover report (``Report.as_dict()``)."""
    cutover = "phases" in data
    title = "airshift cutover" if cutover else "airshift migration"
    parts = [f"<h1>{title}</h1>", _where(data)]
    if cutover:
        parts += _cutover(data)
    else:
        parts += _imported("import", "Rows, table by table", data)
        if data.get("logs"):
            parts.append(_logs(data["logs"]))
    made = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    parts.append(f'<p class="meta">made by airshift at {made}</p>')
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title><style>{_STYLE}</style></head><body>"
        + "\n".join(parts)
        + "</body></html>\n"
    )


def _where(data: dict[str, Any]) -> str:
    if "phases" in data:
        src, tgt = data["source"], data["target"]
    else:
        src, tgt = data.get("source_revision", "?"), data.get("target_revision", "?")
    return f'<p class="meta">from <b id="source">{escape(src)}</b> to <b id="target">{escape(tgt)}</b></p>'


def _card(ident: str, label: str, value: Any, css: str = "") -> str:
    return f'<div class="card {css}"><b id="{ident}">{escape(str(value))}</b>{escape(label)}</div>'


def _cutover(data: dict[str, Any]) -> list[str]:
    results = data.get("results", {})
    verify = results.get("verify")
    parts = ['<div class="cards">']
    for phase in ("bulk", "delta"):
        tables = ((results.get(phase) or {}).get("merge") or {}).get("tables", {})
        parts.append(
            _card(
                f"{phase}-inserted", f"rows imported by the {phase} phase", _sum(tables, "inserted")
            )
        )
    delta = ((results.get("delta") or {}).get("merge") or {}).get("tables", {})
    parts.append(_card("delta-updated", "rows updated by the delta", _sum(delta, "overwritten")))
    if verify is not None:
        ok = verify.get("ok")
        parts.append(
            _card("verified", "verification", "passed" if ok else "FAILED", "ok" if ok else "bad")
        )
    parts.append(_card("unpaused-count", "DAGs unpaused on the target", len(data["unpaused"])))
    parts.append(_card("held-count", "DAGs held paused", len(data["held"]), "warn"))
    parts.append("</div>")
    parts.append(_timeline(data["phases"]))
    parts.append(_dags(data))
    if data.get("moved_unfinished"):
        items = "".join(f"<li>{escape(t)}</li>" for t in data["moved_unfinished"])
        parts.append(f'<h2>Tasks moved unfinished</h2><ul id="moved-unfinished">{items}</ul>')
    for phase, heading in (("bulk", "Bulk copy"), ("delta", "Delta"), ("verify", "Verification")):
        if results.get(phase):
            parts += _imported(phase, heading, results[phase], verify=phase == "verify")
    if data.get("rolled_back"):
        parts.append(
            '<p id="rolled-back" class="warn">Rolled back: the source has its prior pause states.</p>'
        )
    return parts


def _timeline(phases: list[dict[str, Any]]) -> str:
    rows = "".join(
        f'<tr data-phase="{escape(p["phase"])}"><td>{escape(p["phase"])}</td>'
        f'<td>{escape(p["started"])}</td><td class="n">{p["seconds"]:.1f}</td>'
        f"<td>{escape(p['summary'])}</td></tr>"
        for p in phases
    )
    return (
        '<h2>Phases</h2><table id="timeline"><tr><th>phase</th><th>started (UTC)</th>'
        f'<th class="n">seconds</th><th>what it did</th></tr>{rows}</table>'
    )


def _dags(data: dict[str, Any]) -> str:
    prior = data.get("prior_pause") or {}
    unpaused, held = set(data["unpaused"]), data["held"]
    rows = []
    for dag_id in sorted(prior):
        if dag_id in held:
            on_target, css = f"held paused: {held[dag_id]}", "warn"
        elif dag_id in unpaused:
            before, after, _ = data.get("next_runs", {}).get(dag_id) or [None, None, None]
            moved = f"; next run {after} (the target had {before})" if before != after else ""
            on_target, css = f"unpaused{moved}", "ok"
        else:
            on_target, css = "paused", ""
        was = "paused" if prior[dag_id] else "active"
        rows.append(
            f'<tr data-dag="{escape(dag_id)}"><td>{escape(dag_id)}</td><td>{was}</td>'
            f'<td class="{css}">{escape(on_target)}</td></tr>'
        )
    return (
        '<h2>DAGs</h2><table id="dags"><tr><th>DAG</th><th>on the source before</th>'
        f"<th>on the target now</th></tr>{''.join(rows)}</table>"
    )


def _sum(tables: dict[str, dict[str, Any]], key: str) -> int:
    return sum(t.get(key, 0) for t in tables.values())


def _imported(ident: str, heading: str, data: dict[str, Any], verify: bool = False) -> list[str]:
    """One import's (or verification's) counts per table, what was lost, what was left out."""
    merge = data.get("merge") or {"tables": {}, "skipped_tables": {}}
    archived = data.get("archived", {})
    head = "".join(f'<th class="n">{escape(label)}</th>' for _, label in _COUNTS)
    rows = []
    for name, t in merge["tables"].items():
        if not (t["staged"] or archived.get(name)):
            continue
        bad = verify and (t["inserted"] or t["differing"])
        cells = "".join(f'<td class="n" data-count="{k}">{t.get(k, 0)}</td>' for k, _ in _COUNTS)
        rows.append(
            f'<tr data-table="{escape(name)}"{" class=bad" if bad else ""}><td>{escape(name)}</td>'
            f'<td class="n" data-count="archived">{archived.get(name, 0)}</td>{cells}</tr>'
        )
    totals = "".join(
        f'<td class="n" data-count="{k}">{_sum(merge["tables"], k)}</td>' for k, _ in _COUNTS
    )
    rows.append(
        f'<tr class="total" data-table="*"><td>all tables</td>'
        f'<td class="n" data-count="archived">{sum(archived.values())}</td>{totals}</tr>'
    )
    parts = [
        f"<h2>{escape(heading)}</h2>",
        f'<p class="meta">{escape(str(data.get("source_revision")))} to '
        f"{escape(str(data.get('target_revision')))}"
        f"{' (dry run: nothing was written)' if merge.get('dry_run') and not verify else ''}</p>",
        f'<table id="tables-{ident}"><tr><th>table</th><th class="n">in archive</th>{head}</tr>'
        + "".join(rows)
        + "</table>",
    ]
    if verify:
        ok = data.get("ok")
        parts.append(
            f'<p id="verify-result" class="{"ok" if ok else "bad"}">'
            + (
                "every source row is in the target, unchanged"
                if ok
                else "rows missing or different"
            )
            + "</p>"
        )
    losses = data.get("losses") or {}
    if losses:
        items = "".join(
            f'<li data-loss="{escape(n)}"><b>{escape(n)}</b>: {loss["rows"]} rows: '
            f"{escape(str(loss['airflow_migration']))}; airshift: {escape(str(loss['airshift']))}</li>"
            for n, loss in losses.items()
        )
        parts.append(f"<h3>What Airflow's migration drops, and why</h3><ul>{items}</ul>")
    kept = {n: v for n, v in (data.get("improvements") or {}).items() if v}
    if kept:
        items = "".join(f"<li>{escape(n)}: {v}</li>" for n, v in kept.items())
        parts.append(f"<h3>Kept by airshift</h3><ul>{items}</ul>")
    spent = data.get("seconds") or {}
    if spent:
        items = "".join(
            f'<li data-phase="{escape(p)}">{seconds:.1f} s: {escape(PHASES.get(p, p))}</li>'
            for p, seconds in spent.items()
        )
        parts.append(f"<h3>Where the time went</h3><ul>{items}</ul>")
    left = {**(data.get("not_loaded") or {}), **merge.get("skipped_tables", {})}
    if left:
        items = "".join(
            f"<li><b>{escape(n)}</b>: {escape(r)}</li>" for n, r in sorted(left.items())
        )
        parts.append(f"<h3>Not imported, and why</h3><ul>{items}</ul>")
    return parts


def _logs(logs: dict[str, Any]) -> str:
    counts = logs.get("counts", {})
    items = "".join(
        f'<li data-logs="{escape(k)}">{escape(k)}: {v}</li>' for k, v in sorted(counts.items())
    )
    return f"<h2>Task logs</h2><ul>{items}</ul>"
