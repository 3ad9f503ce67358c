"""``index.html`` at the store root: every run side by side, linking to its HTML reports.

A static, self-contained page (inline CSS and SVG, no scripts, no external resources) so it opens from
a folder, from S3, or from an artifact viewer alike. Records are read defensively: a half-written or
crashed run still gets a row; unreadable JSON counts as absent. Rows also link a reproduction and its source
both ways (``#run-<id>`` anchors), each ``compare`` report on its B run's row, and the quality gate's decision;
the header names the latest run (``latest.json``) and, separately, the served one (``deployed.json``; a
latest run is never called served).
"""

from __future__ import annotations

import json
import re
import shlex
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from html import escape
from urllib.parse import quote

from . import documents, record
from .store import Store

KEY_PARAMS = (
    "epochs",
    "ensemble_size",
    "max_len",
    "lstm_units",
    "embedding_dim",
    "learning_rate",
    "batch_size",
    "stemmer",
)
REPORTS = ("preprocess", "train")
STATUS_COLORS = {"succeeded": "#1a7f37", "failed": "#cf222e", "running": "#9a6700"}
# The files other commands leave in runs/<id>/ (named in record.py, the record contract).
REPRODUCTION, COMPARISONS, GATE = record.REPRODUCTION, record.COMPARISONS, record.GATE
COMPARISON_REPORT = re.compile(rf"^{re.escape(COMPARISONS)}(?:eval-[0-9a-f]{{12}}/)?(?P<against>[^/]+)\.html$")
GATE_COLORS = {"promote": "#1a7f37", "hold": "#bc4c00"}


def _json(store: Store, key: str, files: set[str]) -> dict | None:
    if key not in files:
        return None
    try:
        data = json.loads(store.read_bytes(key))
    except (ValueError, OSError, RuntimeError):
        return None
    return data if isinstance(data, dict) else None


def _run_ref(data: dict | None) -> str | None:
    """The ``run_id`` a record points at, if it is a non-empty string (records are not trusted to be well-formed)."""
    value = (data or {}).get("run_id")
    return value if isinstance(value, str) and value else None


def _files_by_run(store: Store) -> dict[str, set[str]]:
    """Each run's file names relative to its folder, from one listing (S3: no request per file)."""
    by_run: dict[str, set[str]] = defaultdict(set)
    for key in store.list(record.RUNS):
        parts = key.split("/", 2)
        if len(parts) == 3 and parts[1] and parts[2]:
            by_run[parts[1]].add(parts[2])
    return by_run


def _comparisons(names: set[str], read: Callable[[str], dict]) -> list[dict]:
    """Every ``comparisons/[eval-<sha12>/]<A>.html`` of run B (``record.comparison_name``), with the macro-F1
    difference and the texts it was measured on from its JSON when that is readable."""
    found = []
    for name in sorted(names):
        match = COMPARISON_REPORT.match(name)
        if not match:
            continue
        document = read(name.removesuffix(".html") + ".json")
        f1, texts = document.get("macro_f1"), document.get("texts")
        eval_data = texts.get("eval_data") if isinstance(texts, dict) else None
        found.append(
            {
                "against": match["against"],
                "name": name,
                "macro_f1": f1 if isinstance(f1, dict) else {},
                "eval_data": str(eval_data.get("name") or "") if isinstance(eval_data, dict) else "",
            }
        )
    return found


def _summary(store: Store, run_id: str, names: set[str]) -> dict:
    files = {record.run_key(run_id, name) for name in names}

    def read(name: str) -> dict:
        return _json(store, record.run_key(run_id, name), files) or {}

    manifest, params, metrics = read(record.MANIFEST), read(record.PARAMS), read(record.METRICS)
    reproduction = read(REPRODUCTION)
    # The manifest and params name the source from the start; reproduction.json only once the comparison is done.
    sources = (manifest.get("reproduces"), params.get("reproduces"), reproduction.get("reproduces"))
    reproduces = next((source for source in sources if isinstance(source, str) and source), None)
    return {
        "run_id": run_id,
        "status": manifest.get("status") if manifest.get("status") in STATUS_COLORS else "incomplete",
        "started_at": str(manifest.get("started_at") or ""),
        "duration_s": manifest.get("duration_s"),
        "error": manifest.get("error"),
        "failed_step": manifest.get("failed_step"),
        "data": params.get("data") or manifest.get("data") or {},
        "params": params.get("params") or {},
        "model": metrics.get("model") or {},
        "baseline": metrics.get("baseline") or {},
        "reports": [name for name in REPORTS if record.report_path(name) in names],
        "has_metrics": bool(metrics),
        "reproduces": reproduces,
        "sweep": params.get("sweep") if isinstance(params.get("sweep"), str) else None,
        "reproduction": reproduction or None,
        "reproduced_by": [],
        "comparisons": _comparisons(names, read),
        "gate": read(GATE) or None,
        "edited_notebooks": record.edited_notebooks(manifest),
        "notebooks": manifest.get("notebooks") if isinstance(manifest.get("notebooks"), dict) else {},
    }


def _identical(reproduction: dict | None) -> bool | None:
    """reproduction.json's verdict; None while it is missing or unreadable (still running, or failed)."""
    value = (reproduction or {}).get("identical")
    return value if isinstance(value, bool) else None


def collect_runs(store: Store) -> list[dict]:
    """One summary per ``runs/<id>/`` folder, newest first."""
    runs = [_summary(store, run_id, names) for run_id, names in sorted(_files_by_run(store).items())]
    by_id = {run["run_id"]: run for run in runs}
    for run in runs:  # the source's row links back to each of its reproductions
        if run["reproduces"] in by_id:
            by_id[run["reproduces"]]["reproduced_by"].append(
                {"run_id": run["run_id"], "identical": _identical(run["reproduction"])}
            )
    return sorted(runs, key=lambda r: (r["started_at"], r["run_id"]), reverse=True)


def _when(iso: str) -> str:
    try:
        return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return escape(iso) or "?"


def _num(value, digits: int = 4) -> str:
    return f"{value:.{digits}f}" if isinstance(value, (int, float)) else "–"


def _chart(runs: list[dict]) -> str:
    """Macro-F1 of each succeeded run, oldest to newest: LSTM vs baseline, as inline SVG."""
    points = [r for r in reversed(runs) if r["status"] == "succeeded" and "macro_f1" in r["model"]][-30:]
    if not points:
        return "<p class=muted>No succeeded run yet: the chart appears after the first one.</p>"
    width, height, left, bottom = 760, 220, 48, 30
    values = [r["model"]["macro_f1"] for r in points] + [r["baseline"].get("macro_f1", 0) for r in points]
    low, high = max(0.0, min(values) - 0.05), min(1.0, max(values) + 0.05)
    span = (high - low) or 1.0
    step = (width - left - 20) / max(len(points) - 1, 1)

    def xy(i: int, v: float) -> str:
        return f"{left + i * step:.1f},{height - bottom - (v - low) / span * (height - bottom - 20):.1f}"

    parts = [
        f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="macro-F1 per run">'
    ]
    for tick in range(5):
        v = low + span * tick / 4
        y = height - bottom - (v - low) / span * (height - bottom - 20)
        parts.append(
            f'<line x1="{left}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{v:.2f}</text>'
        )
    for key, color, name in (("model", "#0969da", "LSTM"), ("baseline", "#8c959f", "TF-IDF baseline")):
        series = [(i, r[key].get("macro_f1")) for i, r in enumerate(points) if r[key].get("macro_f1") is not None]
        parts.append(
            f'<polyline fill="none" stroke="{color}" stroke-width="2" '
            f'points="{" ".join(xy(i, v) for i, v in series)}"/>'
        )
        parts += [
            f'<circle cx="{xy(i, v).split(",")[0]}" cy="{xy(i, v).split(",")[1]}" r="3.5" fill="{color}">'
            f"<title>{escape(points[i]['run_id'])}: {name} {v:.4f}</title></circle>"
            for i, v in series
        ]
    parts.append(
        f'<text x="{left}" y="{height - 8}" font-size="11">oldest</text>'
        f'<text x="{width - 10}" y="{height - 8}" font-size="11" text-anchor="end">newest</text>'
        f'<text x="{width / 2}" y="{height - 8}" font-size="11" text-anchor="middle">'
        f"macro-F1 on each run's held-out test split</text>"
        f'<rect x="{left + 10}" y="6" width="12" height="4" fill="#0969da"/>'
        f'<text x="{left + 26}" y="12" font-size="11">LSTM</text>'
        f'<rect x="{left + 70}" y="6" width="12" height="4" fill="#8c959f"/>'
        f'<text x="{left + 86}" y="12" font-size="11">TF-IDF baseline</text></svg>'
    )
    return "".join(parts)


def _href(key: str) -> str:
    """A relative link to a store key: percent-encoded (a folder name may hold ``#``, ``?`` or ``%``), then escaped."""
    return escape(quote(key, safe="/:+"), quote=True)


def _anchor(run_id: str) -> str:
    """``href`` to a run's row; its ``id`` is the same text unencoded (browsers decode the fragment to match)."""
    return "#" + escape(quote(f"run-{run_id}", safe=":+"), quote=True)


def _signed(value: float) -> str:
    return f"{value:+.4f}".replace("-", "\u2212")


def _is_num(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _differences(reproduction: dict) -> str:
    """The tooltip of a "differs" verdict: how far weights and metrics moved, and what else changed."""
    parts = []
    for part in ("weights", "metrics"):
        found = reproduction.get(part) if isinstance(reproduction.get(part), dict) else {}
        largest = found.get("max_abs_diff")
        if _is_num(largest):
            parts.append(f"{part}: max_abs_diff {largest:.3g}")
        elif found.get("identical") is False:  # weights: None when tensor shapes differ
            parts.append(f"{part}: differ (no max_abs_diff)")
    parts += [f"{what} differ" for what in ("splits", "tokenizer") if reproduction.get(f"{what}_identical") is False]
    return "; ".join(parts) or "differs"


def _reproduction_links(run: dict) -> str:
    """Under the run id: which run this one reproduces (and the verdict), and which runs reproduce this one."""
    lines = []
    if run["reproduces"]:
        source = run["reproduces"]
        identical = _identical(run["reproduction"])
        verdict = ""
        if identical is not None:  # no verdict yet: a reproduction still running, or one that failed
            href = _href(record.run_key(run["run_id"], REPRODUCTION))
            title = "" if identical else f' title="{escape(_differences(run["reproduction"]), quote=True)}"'
            word, cls = ("identical", "better") if identical else ("differs", "worse")
            verdict = f': <a class={cls} href="{href}"{title}>{word}</a>'
        lines.append(f'reproduces <a href="{_anchor(source)}"><code>{escape(source)}</code></a>{verdict}')
    for other in run["reproduced_by"]:
        word = {True: " (identical)", False: " (differs)"}.get(other["identical"], "")
        lines.append(
            f'reproduced by <a href="{_anchor(other["run_id"])}"><code>{escape(other["run_id"])}</code></a>{word}'
        )
    return "".join(f"<div class=rel>{line}</div>" for line in lines)


def _gate_badge(run: dict) -> str:
    """``gate: promote|hold``, linking gate.json, with the gate's one-sentence reason as the tooltip."""
    gate = run["gate"]
    if not gate:
        return ""
    decision = gate.get("decision")
    if decision not in GATE_COLORS and isinstance(gate.get("promote"), bool):
        decision = "promote" if gate["promote"] else "hold"
    label, color = (decision, GATE_COLORS[decision]) if decision in GATE_COLORS else ("?", "#57606a")
    reason = gate.get("reason")
    title = f' title="{escape(str(reason), quote=True)}"' if reason else ""
    href = _href(record.run_key(run["run_id"], GATE))
    return f' <a class=badge style="background:{color}" href="{href}"{title}>gate: {label}</a>'


def _comparison(run: dict, comparison: dict, served: str | None) -> str:
    """``vs A: +0.0100 [−0.0020, +0.0210]`` (B − A macro-F1 and its interval), linking A's report on B's row."""
    against = comparison["against"]
    href = _href(record.run_key(run["run_id"], comparison["name"]))
    text = f'<a href="{href}">vs <code>{escape(against)}</code></a>'
    if comparison["eval_data"]:
        text += f" on <code>{escape(comparison['eval_data'])}</code>"
    if against == served:
        text += ' <span class="badge served">vs served</span>'
    f1 = comparison["macro_f1"]
    if all(_is_num(f1.get(key)) for key in ("delta", "low", "high")):
        cls = "better" if f1["low"] > 0 else "worse" if f1["high"] < 0 else "same"
        n, level = f1.get("n"), f1.get("confidence")
        title = (
            "B − A macro-F1"
            + (f" on {n} texts" if _is_num(n) else "")
            + (f", {level:.0%} interval" if _is_num(level) else ", interval")
        )
        text += (
            f': <span class={cls} title="{escape(title, quote=True)}">{_signed(f1["delta"])} '
            f"[{_signed(f1['low'])}, {_signed(f1['high'])}]</span>"
        )
    return text


def _edited_badge(run: dict) -> str:
    """Runs made with notebooks that differ from the ones the code carries (manifest ``notebooks``): a run on an
    author's uncommitted edit must not look like a clean one."""
    if not run["edited_notebooks"]:
        return ""
    details = "; ".join(
        f"{name} differs from {run['notebooks'][name].get('compared_with', '?')}" for name in run["edited_notebooks"]
    )
    names = ", ".join(name.removesuffix(".ipynb") for name in run["edited_notebooks"])
    return f' <span class="badge edited" title="{escape(details, quote=True)}">edited: {escape(names)}</span>'


MONITORING_SHOWN = 3  # a run's newest monitoring reports listed on its row


def _monitoring(reports: list[dict]) -> str:
    """A run's monitoring reports (newest first): when, over how many captured answers, and a drift badge."""
    lines = []
    for report in reports[:MONITORING_SHOWN]:
        mid = str(report["monitor_id"])
        href = _href(record.monitoring_key(mid, record.MONITOR_REPORT))
        drift, status = report.get("drift"), report.get("status")
        if status != "succeeded" or not isinstance(drift, bool):
            badge = '<span class="badge" style="background:#57606a">failed</span>'
        elif drift:
            badge = '<span class="badge drift">drift</span>'
        else:
            badge = '<span class="badge nodrift">no drift</span>'
        captures = report.get("captures") if isinstance(report.get("captures"), dict) else {}
        n = captures.get("n")
        texts = f", {n:,} answers" if isinstance(n, int) else ""
        lines.append(
            f"<div class=rel>monitored {_when(str(report.get('started_at') or ''))}{texts}: {badge} "
            f'<a href="{href}">report</a></div>'
        )
    more = len(reports) - MONITORING_SHOWN
    if more > 0:
        lines.append(f"<div class=rel>and {more} earlier monitoring report(s) under <code>monitoring/</code></div>")
    return "".join(lines)


def _row(run: dict, latest: str | None, served: str | None = None, monitoring: list[dict] | None = None) -> str:
    rid = run["run_id"]
    base = _href(record.run_key(rid))
    status = run["status"]
    color = STATUS_COLORS.get(status, "#57606a")
    data = run["data"]
    data_cell = (
        (
            f'<span title="{escape(str(data.get("uri", "")), quote=True)}">{escape(str(data.get("name", "?")))}'
            f"</span><br><code>{escape(str(data.get('sha256', ''))[:12])}</code>"
        )
        if data
        else "–"
    )
    params = ", ".join(f"{k}={escape(str(run['params'][k]))}" for k in KEY_PARAMS if k in run["params"])
    lstm, baseline = run["model"].get("macro_f1"), run["baseline"].get("macro_f1")
    delta = ""
    if isinstance(lstm, (int, float)) and isinstance(baseline, (int, float)):
        cls = "better" if lstm > baseline else "worse"
        delta = f'<span class="{cls}">{lstm - baseline:+.4f}</span>'
    links = [f'<a href="{base}{record.report_path(name)}">{name}</a>' for name in run["reports"]]
    links += [f'<a href="{base}metrics.json">metrics</a>'] if run["has_metrics"] else []
    links += [f'<a href="{base}manifest.json">manifest</a>'] if status != "incomplete" else []
    comparisons = "".join(f"<div class=rel>{_comparison(run, c, served)}</div>" for c in run["comparisons"])
    comparisons += _monitoring(monitoring or [])
    if run.get("sweep"):
        report = _href(record.sweep_key(run["sweep"], record.SWEEP_REPORT))
        comparisons += f'<div class=rel>point of sweep <a href="{report}">{escape(run["sweep"])}</a></div>'
    duration = f"{run['duration_s']:.0f} s" if isinstance(run["duration_s"], (int, float)) else "–"
    badge = f'<span class="badge" style="background:{color}">{escape(status)}</span>'
    if rid == latest:
        badge += ' <span class="badge latest">latest</span>'
    if rid == served:
        badge += ' <span class="badge served">served</span>'
    badge += _gate_badge(run)
    badge += _edited_badge(run)
    row = (
        f'<tr id="{escape(f"run-{rid}", quote=True)}"><td><code>{escape(rid)}</code>{_reproduction_links(run)}</td>'
        f"<td>{badge}</td><td>{_when(run['started_at'])}</td>"
        f"<td>{duration}</td><td>{data_cell}</td><td class=params>{params or '–'}</td>"
        f"<td class=num>{_num(lstm)}</td><td class=num>{_num(baseline)}</td><td class=num>{delta or '–'}</td>"
        f"<td class=num>{_num(run['model'].get('accuracy'))}</td>"
        f"<td>{' · '.join(links) + comparisons or '–'}</td></tr>"
    )
    if run["error"]:
        step = f" in {escape(str(run['failed_step']))}" if run["failed_step"] else ""
        row += f"<tr class=error><td></td><td colspan=10>failed{step}: {escape(str(run['error']))}</td></tr>"
    return row


def _header(runs: list[dict], latest: str | None, deployed: dict | None, store_uri: str | None) -> str:
    """Which run is latest and which is served, side by side and never conflated: ``latest.json`` names the newest
    succeeded run (promoted or held by the gate), only ``deployed.json`` names a served one."""
    served = _run_ref(deployed)
    newest = "none yet"
    if latest:
        gate = next((run["gate"] for run in runs if run["run_id"] == latest), None) or {}
        decision = gate.get("decision") if isinstance(gate.get("decision"), str) else None
        decision = decision if decision in GATE_COLORS else None
        newest = (
            f"<code>{escape(latest)}</code> (<code>latest.json</code>: the newest succeeded run"
            f"{f', gate: {decision}' if decision else ''})"
        )
    if not served:
        return (
            f"<p class=muted>{len(runs)} run(s); latest: {newest}; served: none recorded (no "
            "<code>deployed.json</code> in this store: nothing promoted from it yet, or an ECS service that names its "
            "run in its task definition).</p>"
        )
    since = f", deployed {_when(str(deployed['deployed_at']))}" if deployed.get("deployed_at") else ""
    store = shlex.quote(store_uri) if store_uri else "<store>"
    return (
        f"<p class=muted>{len(runs)} run(s); latest: {newest}; served: <code>{escape(served)}</code> "
        f"(<code>deployed.json</code>{since}).</p>\n"
        f"<p class=muted>Compare any run against the served one: <code>sentiment-pipeline compare --store "
        f"{escape(store)} served &lt;run id&gt;</code>; the report then appears on that run's row as "
        f"“vs <code>{escape(served)}</code>”.</p>"
    )


SWEEPS_SHOWN = 10  # the newest sweeps listed above the runs


def _sweeps(sweeps: list[dict]) -> str:
    """The newest sweeps: when, the grid, the best point (a link to its row) and the report."""
    if not sweeps:
        return ""
    items = []
    for sweep in sweeps[:SWEEPS_SHOWN]:
        sid = str(sweep["sweep_id"])
        grid = "; ".join(
            f"{escape(str(name))} = {escape(', '.join(map(str, values)))}"
            for name, values in (sweep.get("grid") or {}).items()
        )
        best = sweep.get("best")
        best_text = "no point succeeded"
        if best:
            best_text = f'best <a href="{_anchor(str(best))}"><code>{escape(str(best))}</code></a>'

        failed = len(sweep.get("failed_points") or [])
        failed_text = f' <span class="badge" style="background:#cf222e">{failed} failed</span>' if failed else ""
        report = _href(record.sweep_key(sid, record.SWEEP_REPORT))
        items.append(
            f'<li><a href="{report}">sweep <code>{escape(sid)}</code></a> {_when(str(sweep.get("started_at") or ""))}'
            f": {len(sweep.get('points') or [])} points ({grid}); {best_text}{failed_text}</li>"
        )
    more = len(sweeps) - SWEEPS_SHOWN
    tail = f"<p class=muted>and {more} earlier sweep(s) under <code>sweeps/</code></p>" if more > 0 else ""
    return f"<h2>Sweeps</h2><ul class=sweeps>{''.join(items)}</ul>{tail}"


def render_index(
    runs: list[dict],
    latest_run_id: str | None,
    deployed: dict | None = None,
    store_uri: str | None = None,
    monitoring: list[dict] | None = None,
    sweeps: list[dict] | None = None,
) -> str:
    """The whole page as a string; ``deployed``: ``deployed.json`` if there is one; ``monitoring``: the monitoring
    records' manifests (newest first), listed on the row of the run whose model they checked; ``sweeps``: the sweep
    documents (newest first), listed above the runs."""
    served = _run_ref(deployed)
    by_run: dict[str, list[dict]] = defaultdict(list)
    for report in monitoring or []:
        by_run[str(report.get("run_id"))].append(report)
    rows = "".join(_row(run, latest_run_id, served, by_run.get(run["run_id"])) for run in runs)
    rows = rows or "<tr><td colspan=11>No runs yet.</td></tr>"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Tweet sentiment runs</title>
<style>
body{{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1f2328}}
h1{{margin:0 0 4px}} .muted{{color:#57606a;margin:4px 0}} h2{{font-size:18px;margin:20px 0 4px}}
ul.sweeps{{font-size:14px;margin:4px 0;padding-left:20px}} ul.sweeps li{{margin:3px 0}}
table{{border-collapse:collapse;width:100%;font-size:14px;margin-top:16px}}
th,td{{border-bottom:1px solid #d0d7de;padding:6px 8px;text-align:left;vertical-align:top}}
th{{background:#f6f8fa}} td.num{{text-align:right;font-variant-numeric:tabular-nums}}
td.params{{font-size:12px;color:#57606a;max-width:260px}}
.badge{{color:#fff;border-radius:10px;padding:2px 8px;font-size:12px;white-space:nowrap}}
a.badge{{text-decoration:none}} .badge.latest{{background:#0969da}} .badge.served{{background:#8250df}}
.badge.edited{{background:#bc4c00}} .badge.drift{{background:#cf222e}} .badge.nodrift{{background:#1a7f37}}
.better{{color:#1a7f37;font-weight:600}} .worse{{color:#cf222e;font-weight:600}}
.rel{{font-size:12px;color:#57606a;margin-top:3px}} .rel .same{{color:#1f2328}}
tr:target td{{background:#fff8c5}}
tr.error td{{color:#cf222e;font-size:13px;border-bottom:1px solid #d0d7de;padding-top:0}}
</style></head><body>
<h1>Tweet sentiment runs</h1>
{_header(runs, latest_run_id, deployed, store_uri)}
{_chart(runs)}
{_sweeps(sweeps or [])}
<table><thead><tr><th>run</th><th>status</th><th>started</th><th>duration</th><th>data</th><th>key parameters</th>
<th>LSTM macro-F1</th><th>baseline macro-F1</th><th>LSTM − baseline</th><th>accuracy</th><th>reports</th></tr></thead>
<tbody>{rows}</tbody></table></body></html>
"""


def write_index(store: Store) -> str:
    """Collect, render and write ``index.html`` at the store root; returns where it went."""
    # Read without an exists() first: a missing file reads as an error, which _json treats as absent.
    latest = _run_ref(_json(store, record.LATEST, {record.LATEST}))
    deployed = _json(store, record.DEPLOYED, {record.DEPLOYED})
    page = render_index(
        collect_runs(store),
        latest,
        deployed,
        store.uri,
        documents.monitoring_summaries(store),
        documents.sweep_summaries(store),
    )
    store.write_bytes(record.INDEX, page.encode("utf-8"))
    return store.uri_for(record.INDEX)


def refresh_index(store: Store, progress: Callable[[str], None]) -> None:
    """Rewrite the index after a command added to the store (a run, a comparison, a gate decision).

    The index is a convenience: a failure to write it is reported through ``progress``, never raised, so it cannot
    fail the command whose record is already written."""
    try:
        progress(f"index: {write_index(store)}")
    except Exception as exc:
        lines = str(exc).strip().splitlines()
        progress(f"could not refresh the runs index: {type(exc).__name__}: {lines[0] if lines else ''}")
