"""``index.html`` at the store root: every run side by side, linking to its HTML reports.

A static, self-contained page (inline CSS and SVG, no scripts, no external resources) so it opens from
a folder, from S3, or from an artifact viewer alike. Records are read defensively: a half-written or
crashed run still gets a row.
"""

from __future__ import annotations

import json
from datetime import datetime
from html import escape

from . import record
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


def _json(store: Store, key: str, files: set[str]) -> dict | None:
    if key not in files:
        return None
    try:
        data = json.loads(store.read_bytes(key))
    except (ValueError, OSError, RuntimeError):
        return None
    return data if isinstance(data, dict) else None


def collect_runs(store: Store) -> list[dict]:
    """One summary per ``runs/<id>/`` folder, newest first."""
    files = set(store.list("runs/"))
    run_ids = sorted({key.split("/")[1] for key in files if key.count("/") >= 2})
    runs = []
    for run_id in run_ids:
        manifest = _json(store, record.run_key(run_id, record.MANIFEST), files) or {}
        params = _json(store, record.run_key(run_id, record.PARAMS), files) or {}
        metrics = _json(store, record.run_key(run_id, record.METRICS), files) or {}
        runs.append(
            {
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
                "reports": [name for name in REPORTS if record.run_key(run_id, f"reports/{name}.html") in files],
                "has_metrics": bool(metrics),
            }
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


def _row(run: dict, latest: str | None) -> str:
    rid = run["run_id"]
    base = f"runs/{escape(rid, quote=True)}/"
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
    links = [f'<a href="{base}reports/{name}.html">{name}</a>' for name in run["reports"]]
    links += [f'<a href="{base}metrics.json">metrics</a>'] if run["has_metrics"] else []
    links += [f'<a href="{base}manifest.json">manifest</a>'] if status != "incomplete" else []
    duration = f"{run['duration_s']:.0f} s" if isinstance(run["duration_s"], (int, float)) else "–"
    badge = f'<span class="badge" style="background:{color}">{escape(status)}</span>'
    if rid == latest:
        badge += ' <span class="badge latest">latest</span>'
    row = (
        f"<tr><td><code>{escape(rid)}</code></td><td>{badge}</td><td>{_when(run['started_at'])}</td>"
        f"<td>{duration}</td><td>{data_cell}</td><td class=params>{params or '–'}</td>"
        f"<td class=num>{_num(lstm)}</td><td class=num>{_num(baseline)}</td><td class=num>{delta or '–'}</td>"
        f"<td class=num>{_num(run['model'].get('accuracy'))}</td><td>{' · '.join(links) or '–'}</td></tr>"
    )
    if run["error"]:
        step = f" in {escape(str(run['failed_step']))}" if run["failed_step"] else ""
        row += f"<tr class=error><td></td><td colspan=10>failed{step}: {escape(str(run['error']))}</td></tr>"
    return row


def render_index(runs: list[dict], latest_run_id: str | None) -> str:
    """The whole page as a string."""
    served = (
        f"<code>{escape(latest_run_id)}</code> (what <code>latest.json</code> points at)"
        if latest_run_id
        else "none yet"
    )
    rows = "".join(_row(run, latest_run_id) for run in runs) or "<tr><td colspan=11>No runs yet.</td></tr>"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Tweet sentiment runs</title>
<style>
body{{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1f2328}}
h1{{margin:0 0 4px}} .muted{{color:#57606a}}
table{{border-collapse:collapse;width:100%;font-size:14px;margin-top:16px}}
th,td{{border-bottom:1px solid #d0d7de;padding:6px 8px;text-align:left;vertical-align:top}}
th{{background:#f6f8fa}} td.num{{text-align:right;font-variant-numeric:tabular-nums}}
td.params{{font-size:12px;color:#57606a;max-width:260px}}
.badge{{color:#fff;border-radius:10px;padding:2px 8px;font-size:12px;white-space:nowrap}}
.badge.latest{{background:#0969da}} .better{{color:#1a7f37;font-weight:600}} .worse{{color:#cf222e;font-weight:600}}
tr.error td{{color:#cf222e;font-size:13px;border-bottom:1px solid #d0d7de;padding-top:0}}
</style></head><body>
<h1>Tweet sentiment runs</h1>
<p class=muted>{len(runs)} run(s); served model: {served}.</p>
{_chart(runs)}
<table><thead><tr><th>run</th><th>status</th><th>started</th><th>duration</th><th>data</th><th>key parameters</th>
<th>LSTM macro-F1</th><th>baseline macro-F1</th><th>LSTM − baseline</th><th>accuracy</th><th>reports</th></tr></thead>
<tbody>{rows}</tbody></table></body></html>
"""


def write_index(store: Store) -> str:
    """Collect, render and write ``index.html`` at the store root; returns where it went."""
    latest = None
    if store.exists(record.LATEST):
        try:
            latest = json.loads(store.read_bytes(record.LATEST)).get("run_id")
        except ValueError:
            latest = None
    store.write_bytes(record.INDEX, render_index(collect_runs(store), latest).encode("utf-8"))
    return store.uri_for(record.INDEX)
