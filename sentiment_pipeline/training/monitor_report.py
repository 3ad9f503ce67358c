"""``sentiment-pipeline monitor``: a served model's captured answers checked against its own run, archived like a run.

The captures of the run's model over a time window (``records/captures.py``) and the run's record (its test split,
model and recorded scores) are staged in a temp folder; ``notebooks/monitor.ipynb``, executed by papermill with the
thresholds as parameters, makes the checks (``training/monitoring.py``) and hands its summary back
(``documents.write_drift_file``); the executed notebook, its HTML report, ``drift.json`` and a manifest go to
``<store>/monitoring/<monitor_id>/``. Too few captured texts is a refusal before anything runs (exit 2), not a
report of noise.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from .. import params as run_params
from ..errors import RunFailed, StoreError, TooFewTexts, UsageError
from ..records import captures, documents, record
from ..records.index import refresh_index
from ..records.store import Store, read_uri

Progress = Callable[[str], None]
DEFAULT_WINDOW = timedelta(days=1)


@dataclass(frozen=True)
class MonitorResult:
    monitor_id: str
    run_id: str
    summary: dict[str, Any]  # drift.json
    report: str  # the HTML report's URI
    manifest: str


def parse_time(text: str | None, default: datetime) -> datetime:
    """``--since``/``--until``: ISO 8601 (a date, or a date and time; UTC unless it says otherwise), or ``now``."""
    if text is None:
        return default
    if text.strip().lower() == "now":
        return datetime.now(UTC)
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"{text!r} is not a time: use ISO 8601, e.g. 2026-12-04 or 2026-12-04T06:00:00Z") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_monitor(
    store: Store,
    captures_store: Store,
    *,
    run: str = "served",
    since: datetime | None = None,
    until: datetime | None = None,
    labels_uri: str | None = None,
    monitor_id: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    report_code: bool = False,
    progress: Progress = _stderr,
) -> MonitorResult:
    """Check the captured answers of ``run``'s model (a run id, ``latest`` or ``served``) answered in [since, until)
    (default: the day before now) and record the outcome. Raises TooFewTexts (nothing written) when fewer than
    ``min_texts`` were captured, BadInput for a bad run, window or labels file."""
    from . import notebook_execution, notebook_sources
    from .reports import ReportHeader, utc_text

    params = run_params.resolve_monitor(overrides)
    until = until or datetime.now(UTC)
    since = since or until - DEFAULT_WINDOW
    if since >= until:
        raise UsageError(f"--since ({since.isoformat()}) must be before --until ({until.isoformat()})")
    run_id, why = record.choose_run(store, run)
    manifest = record.succeeded_manifest(store, run_id)
    monitor_id = record.check_run_id(monitor_id or record.new_run_id())
    if store.exists(record.monitoring_key(monitor_id, record.MANIFEST)):
        raise StoreError(f"monitoring record {monitor_id} exists already in {store.uri}; choose another --monitor-id")
    version = record.tag_version(run_id)
    read = captures.read_captures(captures_store, version, since, until)
    window = f"{since.isoformat(timespec='seconds')} to {until.isoformat(timespec='seconds')}"
    where = captures_store.uri_for(f"{version}/")
    if len(read.lines) < params["min_texts"]:
        raise TooFewTexts(
            f"only {len(read.lines)} captured answers of run {run_id}'s model between {window} in {where} (at least "
            f"{params['min_texts']} are needed for a report that is not noise): widen --since/--until, or check "
            "that the service captures (SENTIMENT_CAPTURE_URI)"
        )
    progress(
        f"monitor {monitor_id}: run {run_id}{f' ({why})' if why else ''}, {len(read.lines):,} captured answers in "
        f"{read.segments} segments, {window}"
        + (f"; {len(read.unreadable_segments)} unreadable segments skipped" if read.unreadable_segments else "")
    )
    capture_facts = {
        "uri": where,
        "model_version": version,
        "since": since.isoformat(timespec="seconds"),
        "until": until.isoformat(timespec="seconds"),
        "segments": read.segments,
        "unreadable_segments": read.unreadable_segments[:20],
        "n": len(read.lines),
    }
    started_at, clock = record.utc_now(), time.perf_counter()
    files: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="sentiment-monitor-") as tmp:
        work = Path(tmp)
        staged = work / "captures.jsonl"
        staged.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in read.lines), "utf-8")
        reference = work / "reference.csv"
        reference.write_bytes(record.read_verified(store, run_id, record.split_path("test"), manifest))
        model_dir = record.download_model(store, run_id, work / "model")
        labels_facts = None
        labels_path = ""
        if labels_uri:
            raw = read_uri(labels_uri)
            labels_path = str(work / "labels" / Path(labels_uri.split("?")[0]).name)
            Path(labels_path).parent.mkdir()
            Path(labels_path).write_bytes(raw)
            labels_facts = {"uri": labels_uri, "sha256": record.sha256_bytes(raw), "bytes": len(raw)}
        executed = work / f"{notebook_execution.MONITOR_NOTEBOOK}.ipynb"
        notebook_params = {
            **params,
            "captures_path": str(staged),
            "reference_path": str(reference),
            "model_dir": str(model_dir),
            "labels_path": labels_path,
            "recorded_macro_f1": float(record.read_metrics(store, run_id)["model"]["macro_f1"]),
            "output_dir": str(work / "out"),
            "run_id": run_id,
        }
        header_facts = (
            ("Run", run_id),
            ("Captured answers", f"{len(read.lines):,} of model {version}, {window}"),
            ("Captures", where),
            ("Checked", utc_text(started_at)),
        )
        shown = tuple((p.name, params[p.name], p.default) for p in run_params.MONITOR_PARAMETERS)
        status, error, summary = "succeeded", None, None
        try:
            notebook_execution.execute(
                notebook_sources.notebooks_dir() / f"{notebook_execution.MONITOR_NOTEBOOK}.ipynb",
                str(executed),
                notebook_params,
                cwd=work,
            )
            summary = documents.read_drift_file(work / "out")
        except Exception as exc:  # the executed notebook (its failed cell) and a failed manifest are still recorded
            status, error = "failed", notebook_execution.one_line(exc)
            progress(f"FAILED: {error}")
            for line in notebook_execution.failure_details(exc):
                progress(f"  {line}")
        header = ReportHeader(
            f"run {run_id}",
            header_facts,
            shown,
            status if status == "succeeded" else f"failed: {error}",
            "Monitoring report",
        )
        if executed.is_file():
            files.append(documents.write_monitoring_file(store, monitor_id, executed.name, executed.read_bytes()))
            html = notebook_execution.render_html(str(executed), header, show_code=report_code)
            report = html.encode("utf-8")
            files.append(documents.write_monitoring_file(store, monitor_id, record.MONITOR_REPORT, report))
        if summary is not None:
            files.append(
                documents.write_monitoring_file(store, monitor_id, record.DRIFT, record.to_json_bytes(summary))
            )
    manifest_uri = documents.write_monitoring_manifest(
        store,
        documents.monitoring_manifest_document(
            monitor_id,
            status,
            run_id=run_id,
            started_at=started_at,
            duration_s=round(time.perf_counter() - clock, 2),
            captures=capture_facts,
            params=params,
            files=files,
            drift=None if summary is None else bool(summary.get("drift")),
            error=error,
            labels=labels_facts,
        ),
    )
    refresh_index(store, progress)
    if summary is None:
        raise RunFailed(monitor_id, notebook_execution.MONITOR_NOTEBOOK, f"{error} (record: {manifest_uri})")
    report_uri = store.uri_for(record.monitoring_key(monitor_id, record.MONITOR_REPORT))
    return MonitorResult(monitor_id, run_id, summary, report_uri, manifest_uri)
