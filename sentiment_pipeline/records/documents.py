"""Every document of the run record, shaped in one place (docs/run-record.md): the commands and notebooks compute the
facts and hand them here; these functions give each document its fields, and the writers put it where it belongs.

Fields are only ever added (readers of older records must not require new ones), and an optional field appears only
when it has a value, so a reader of an older record sees what it always saw. Standard library only: every image
reads and writes records (the Airflow one included).
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from . import record
from .store import Store, StoreError

PROMOTE, HOLD = "promote", "hold"  # gate.json's decision


def _present(**fields: Any) -> dict[str, Any]:
    """The optional fields that have a value."""
    return {name: value for name, value in fields.items() if value}


# ---- what a run writes -----------------------------------------------------------------------------------------------
def file_entry(name: str, data: bytes) -> dict[str, Any]:
    """One entry of the manifest's ``files``: a record file's path in the run, sha256 and size."""
    return {"path": name, "sha256": record.sha256_bytes(data), "bytes": len(data)}


def lease_document(lease_id: str, lease_s: float) -> dict[str, Any]:
    """The manifest's ``lease``: who holds the run id and until when, renewed now."""
    return {
        "id": lease_id,
        "heartbeat_at": record.utc_now(),
        "lease_s": lease_s,
        "host": socket.gethostname(),
        "pid": os.getpid(),
    }


def manifest_document(
    run_id: str,
    status: str,
    *,
    started_at: str,
    duration_s: float | None,
    error: str | None,
    failed_step: str | None,
    data: Mapping[str, Any],
    timings: Mapping[str, float],
    notebooks: Mapping[str, Any],
    files: Sequence[Mapping[str, Any]],
    lease: Mapping[str, Any],
    eval_data: Mapping[str, Any] | None = None,
    reproduces: str | None = None,
) -> dict[str, Any]:
    """``manifest.json``: ``running`` first (no finish time, no duration), then ``succeeded`` or ``failed``; the code's
    commit and the library versions are read here, as the run writes it."""
    finished = status != record.RUNNING
    return {
        "run_id": run_id,
        "status": status,
        "started_at": started_at,
        "finished_at": record.utc_now() if finished else None,
        "duration_s": duration_s if finished else None,
        "error": error,
        "failed_step": failed_step if status == record.FAILED else None,
        "data": dict(data),
        **_present(eval_data=dict(eval_data or {}), reproduces=reproduces),
        "timings": dict(timings),
        "git": record.git_commit(),
        "notebooks": dict(notebooks),
        "versions": record.library_versions(),
        "files": sorted((dict(entry) for entry in files), key=lambda entry: entry["path"]),
        "lease": dict(lease),
    }


def renewed(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The same manifest with its lease's ``heartbeat_at`` now: what a heartbeat writes."""
    return {**manifest, "lease": {**manifest["lease"], "heartbeat_at": record.utc_now()}}


def params_document(
    run_id: str,
    data: Mapping[str, Any],
    params: Mapping[str, Any],
    eval_data: Mapping[str, Any] | None = None,
    reproduces: str | None = None,
    sweep: str | None = None,
) -> dict[str, Any]:
    """``params.json``: every parameter used and the data it ran on; ``eval_data``, ``reproduces`` and ``sweep``
    (the sweep the run is a point of) when used."""
    return {
        "run_id": run_id,
        "data": dict(data),
        "params": dict(params),
        **_present(eval_data=dict(eval_data or {}), reproduces=reproduces, sweep=sweep),
    }


def metrics_document(
    model: dict[str, Any],
    baseline: dict[str, Any],
    history: dict[str, Any],
    *,
    split_sizes: dict[str, int],
    clean_s: float,
    fit_s: float,
    onnx: dict[str, Any] | None = None,
    eval_data: dict[str, Any] | None = None,
    difference_interval: dict[str, Any] | None = None,
    teacher: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``metrics.json`` as the train notebook writes it (the runner adds ``timings``): both models' test metrics
    from ``evaluation.classification_metrics``, their macro-F1 difference, the training history, split sizes and
    the ONNX export's check against Keras on the test split (``onnx_export.parity``; absent in older runs) and, when
    the run was given a fixed evaluation file, both models' metrics on it (``eval_data``: ``eval_data_section``;
    absent otherwise). ``difference_interval``: the paired bootstrap interval of that difference
    (``evaluation.lstm_against_baseline``), recorded as ``lstm_minus_baseline_interval`` (absent in older runs:
    readers must not require it). ``teacher``: the distillation teacher's section (``teacher_section``; absent when
    the run had none, and in older runs)."""
    document = {
        "model": model,
        "baseline": baseline,
        "lstm_minus_baseline_macro_f1": model["macro_f1"] - baseline["macro_f1"],
        **({"lstm_minus_baseline_interval": dict(difference_interval)} if difference_interval is not None else {}),
        "training": {
            "ensemble_size": len(history["members"]),
            "best_epochs": [member["best_epoch"] for member in history["members"]],
            "val_macro_f1": history["val_macro_f1"],
            "history": history,
            "clean_s": round(clean_s, 2),
            "fit_s": round(fit_s, 2),
        },
        "data": dict(split_sizes),
    }
    if onnx is not None:
        document["onnx"] = dict(onnx)
    if eval_data is not None:
        document["eval_data"] = dict(eval_data)
    if teacher is not None:
        document["teacher"] = dict(teacher)
    return document


def teacher_section(
    name: str,
    fitted: Mapping[str, Any],
    config: Mapping[str, Any],
    *,
    test: Mapping[str, Any],
    predict_s: float,
    mix: float,
    temperature: float,
) -> dict[str, Any]:
    """``metrics.json``'s ``teacher``: which teacher, how it was fine-tuned (``config``) and fared per epoch
    (``fitted``: ``Teacher.fit``'s answer), its own test metrics (it is never served), how its labels were mixed
    into the members' targets, and its wall-clock seconds apart under ``timings`` (``reproduce`` skips them)."""
    return {
        "name": name,
        "config": dict(config),
        "best_epoch": int(fitted["best_epoch"]),
        "val_macro_f1": float(fitted["val_macro_f1"]),
        "epochs": list(fitted["epochs"]),
        "test": dict(test),
        "distill_mix": float(mix),
        "distill_temperature": float(temperature),
        "timings": {
            "fit_s": float(fitted["fit_s"]),
            "epoch_s": list(fitted["epoch_s"]),
            "predict_s": round(float(predict_s), 1),
        },
    }


def eval_data_section(
    n: int,
    excluded_seen_in_training: int,
    model: Mapping[str, Any],
    baseline: Mapping[str, Any],
    teacher: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``metrics.json``'s ``eval_data``: both models (and the teacher, when the run had one) on the evaluation
    file's rows the run did not train on."""
    section = {
        "n": int(n),
        "excluded_seen_in_training": int(excluded_seen_in_training),
        "model": dict(model),
        "baseline": dict(baseline),
    }
    if teacher is not None:
        section["teacher"] = dict(teacher)
    return section


def write_metrics_file(folder: str | Path, metrics: Mapping[str, Any]) -> Path:
    """The train notebook hands ``metrics.json`` to the runner in its output folder; the runner adds the timings
    and records it (``read_metrics_file``)."""
    path = Path(folder) / record.METRICS
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    return path


def read_metrics_file(folder: str | Path) -> dict[str, Any]:
    return json.loads((Path(folder) / record.METRICS).read_text(encoding="utf-8"))


def with_timings(metrics: Mapping[str, Any], timings: Mapping[str, float], total_s: float) -> dict[str, Any]:
    """``metrics.json`` as recorded: the notebook's document with the run's step timings and its total."""
    return {**metrics, "timings": {**timings, "total_s": round(total_s, 2)}}


def latest_document(run_id: str, macro_f1: float) -> dict[str, Any]:
    """``latest.json``: the newest succeeded run."""
    return {"run_id": run_id, "updated_at": record.utc_now(), "macro_f1": macro_f1}


def write_latest(store: Store, run_id: str, macro_f1: float) -> None:
    store.write_bytes(record.LATEST, record.to_json_bytes(latest_document(run_id, macro_f1)))


def reproduction_document(
    source_id: str,
    run_id: str,
    *,
    metrics: Mapping[str, Any],
    weights: Mapping[str, Any],
    splits_identical: bool,
    tokenizer_identical: bool,
    onnx_file_identical: bool,
    code: Mapping[str, Any],
    versions_changed: Mapping[str, Any],
) -> dict[str, Any]:
    """``reproduction.json``: a ``reproduce`` run's record against the run it re-executed."""
    return {
        "reproduces": source_id,
        "run_id": run_id,
        "identical": bool(metrics["identical"] and weights["identical"] and splits_identical and tokenizer_identical),
        "metrics": dict(metrics),
        "weights": dict(weights),
        "splits_identical": splits_identical,
        "tokenizer_identical": tokenizer_identical,
        "onnx_file_identical": onnx_file_identical,
        "code": dict(code),
        "versions_changed": dict(versions_changed),
    }


# ---- what later commands add to a run ------------------------------------------------------------------------------
def comparison_document(
    a: Mapping[str, Any],
    b: Mapping[str, Any],
    *,
    texts: Mapping[str, Any],
    labels: Sequence[str],
    metrics: Mapping[str, Any],
    macro_f1: Mapping[str, Any],
    mcnemar: Mapping[str, Any],
    per_class: Mapping[str, Any],
    changed: Mapping[str, Any],
) -> dict[str, Any]:
    """``comparisons/<A>.json`` in B's record: B's model measured against A's on the same texts. ``a``/``b``: each
    run's ``{"run_id", "params", "data", ...}``; the parameters themselves become ``params_differences``."""
    params_a, params_b = a.get("params") or {}, b.get("params") or {}
    return {
        "a": {key: a[key] for key in a if key != "params"},
        "b": {key: b[key] for key in b if key != "params"},
        "params_differences": [
            {"name": name, "a": params_a.get(name), "b": params_b.get(name)}
            for name in sorted(set(params_a) | set(params_b))
            if params_a.get(name) != params_b.get(name)
        ],
        "same_data": (a.get("data") or {}).get("sha256") == (b.get("data") or {}).get("sha256"),
        "texts": dict(texts),
        "labels": list(labels),
        "metrics": dict(metrics),
        "macro_f1": dict(macro_f1),
        "mcnemar": dict(mcnemar),
        "per_class": dict(per_class),
        "changed": dict(changed),
    }


def comparison_keys(run_b: str, run_a: str, eval_sha256: str | None = None) -> dict[str, str]:
    """Where B's comparison against A goes: beside B's other reports, named after A and the texts used."""
    base = record.run_key(run_b, record.comparison_name(run_a, eval_sha256))
    return {"json": f"{base}.json", "html": f"{base}.html"}


def write_comparison(store: Store, document: Mapping[str, Any], html: str) -> dict[str, str]:
    """Store a comparison document and its report in B's record; their URIs (``json``, ``report``)."""
    eval_sha256 = (document["texts"].get("eval_data") or {}).get("sha256")
    keys = comparison_keys(document["b"]["run_id"], document["a"]["run_id"], eval_sha256)
    store.write_bytes(keys["json"], record.to_json_bytes(document))
    store.write_bytes(keys["html"], html.encode("utf-8"))
    return {"json": store.uri_for(keys["json"]), "report": store.uri_for(keys["html"])}


def gate_document(
    run_id: str,
    *,
    threshold: float,
    margin: float,
    promote: bool,
    reason: str,
    candidate: Mapping[str, Any],
    deployed: Mapping[str, Any] | None = None,
    interval: Mapping[str, Any] | None = None,
    mcnemar: Mapping[str, Any] | None = None,
    texts: Mapping[str, Any] | None = None,
    report: str | None = None,
    deployed_unusable: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``gate.json``: the quality gate's decision on a run, with the evidence it decided on."""
    return {
        "run_id": run_id,
        "threshold": threshold,
        "margin": margin,
        "deployed": dict(deployed) if deployed else None,
        "interval": dict(interval) if interval else None,
        "mcnemar": dict(mcnemar) if mcnemar else None,
        "texts": dict(texts) if texts else None,
        "report": report,
        **_present(deployed_unusable=dict(deployed_unusable or {})),
        "decision": PROMOTE if promote else HOLD,
        "promote": promote,
        "reason": reason,
        "candidate": dict(candidate),
        "decided_at": record.utc_now(),
    }


def write_gate(store: Store, document: Mapping[str, Any]) -> None:
    store.write_bytes(record.run_key(document["run_id"], record.GATE), record.to_json_bytes(document))


def read_gate(store: Store, run_id: str) -> dict[str, Any] | None:
    """A run's ``gate.json``, None when the gate has not decided on it."""
    key = record.run_key(run_id, record.GATE)
    return record.read_json(store, key) if store.exists(key) else None


def deployed_document(run_id: str, metrics: Mapping[str, Any], **facts: Any) -> dict[str, Any]:
    """``deployed.json`` (local-mode Airflow): the run now served, its recorded score, when, and where it runs
    (``facts``: the bento's and the model's tags)."""
    return {"run_id": run_id, "macro_f1": float(metrics["model"]["macro_f1"]), "deployed_at": record.utc_now(), **facts}


def write_deployed(store: Store, document: Mapping[str, Any]) -> None:
    store.write_bytes(record.DEPLOYED, record.to_json_bytes(document))


# ---- monitoring: `sentiment-pipeline monitor`'s record, monitoring/<monitor_id>/ ------------------------------------
def write_drift_file(folder: str | Path, summary: Mapping[str, Any]) -> Path:
    """The monitor notebook hands its checks' summary (``drift.json``) to the command in its output folder."""
    path = Path(folder) / record.DRIFT
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return path


def read_drift_file(folder: str | Path) -> dict[str, Any]:
    return json.loads((Path(folder) / record.DRIFT).read_text(encoding="utf-8"))


def monitoring_manifest_document(
    monitor_id: str,
    status: str,
    *,
    run_id: str,
    started_at: str,
    duration_s: float,
    captures: Mapping[str, Any],
    params: Mapping[str, Any],
    files: Sequence[Mapping[str, Any]],
    drift: bool | None = None,
    error: str | None = None,
    labels: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``monitoring/<monitor_id>/manifest.json``: which run's captured answers were checked, over which window, with
    which thresholds, the outcome (``drift``; null when the checks did not finish) and every file's sha256."""
    return {
        "monitor_id": monitor_id,
        "run_id": run_id,
        "status": status,
        "started_at": started_at,
        "finished_at": record.utc_now(),
        "duration_s": duration_s,
        "error": error,
        "drift": drift,
        "captures": dict(captures),
        **_present(labels=dict(labels or {})),
        "params": dict(params),
        "git": record.git_commit(),
        "versions": record.library_versions(),
        "files": sorted((dict(entry) for entry in files), key=lambda entry: entry["path"]),
    }


def write_monitoring_file(store: Store, monitor_id: str, name: str, data: bytes) -> dict[str, Any]:
    """One file of a monitoring record; its manifest entry."""
    store.write_bytes(record.monitoring_key(monitor_id, name), data)
    return file_entry(name, data)


def write_monitoring_manifest(store: Store, document: Mapping[str, Any]) -> str:
    key = record.monitoring_key(document["monitor_id"], record.MANIFEST)
    store.write_bytes(key, record.to_json_bytes(document))
    return store.uri_for(key)


def _newest_first(store: Store, folder: str, name: str, id_key: str) -> list[dict[str, Any]]:
    """Every ``<folder><id>/<name>`` document that can be read and names its id, newest first (``started_at``)."""
    found = []
    for key in store.list(folder):
        if not key.endswith(f"/{name}") or key.count("/") != 2:
            continue
        try:
            document = record.read_json(store, key)
        except (StoreError, OSError):
            continue
        if isinstance(document, dict) and isinstance(document.get(id_key), str):
            found.append(document)
    return sorted(found, key=lambda document: str(document.get("started_at") or ""), reverse=True)


def monitoring_summaries(store: Store) -> list[dict[str, Any]]:
    """Every monitoring record's manifest that can be read (newest first): what the index lists per run."""
    return _newest_first(store, record.MONITORING, record.MANIFEST, "monitor_id")


def sweep_summaries(store: Store) -> list[dict[str, Any]]:
    """Every sweep document that can be read (newest first): what the index lists."""
    return _newest_first(store, record.SWEEPS, record.SWEEP, "sweep_id")


def sweep_document(
    sweep_id: str,
    *,
    started_at: str,
    duration_s: float,
    grid: Mapping[str, Sequence[Any]],
    fixed: Mapping[str, Any],
    data: Mapping[str, Any],
    parallel: int,
    points: Sequence[Mapping[str, Any]],
    texts: Mapping[str, Any] | None,
    best: str | None,
    labels: Sequence[str],
    resamples: int,
) -> dict[str, Any]:
    """``sweeps/<sweep_id>/sweep.json``: the grid, what every point ran with and how it ended, and the ranking of
    the points that succeeded: each one's macro-F1 on the same texts, with the paired bootstrap interval of its
    difference to the best point's and McNemar's test against it (``training/sweep.py``)."""
    failed = [point["run_id"] for point in points if point["status"] != record.SUCCEEDED]
    return {
        "sweep_id": sweep_id,
        "started_at": started_at,
        "finished_at": record.utc_now(),
        "duration_s": duration_s,
        "status": record.SUCCEEDED if not failed else record.FAILED,
        "failed_points": failed,
        "grid": {name: list(values) for name, values in grid.items()},
        "fixed": dict(fixed),
        "data": dict(data),
        "parallel": parallel,
        "texts": dict(texts) if texts else None,
        "labels": list(labels),
        "resamples": resamples,
        "best": best,
        "points": [dict(point) for point in points],
    }


def write_sweep(store: Store, document: Mapping[str, Any], notebook: bytes, html: str) -> dict[str, str]:
    """Store a sweep's document, its executed notebook and its report; their URIs by file name."""
    files = {
        record.SWEEP: record.to_json_bytes(document),
        record.SWEEP_NOTEBOOK: notebook,
        record.SWEEP_REPORT: html.encode(),
    }
    for name, data in files.items():
        store.write_bytes(record.sweep_key(document["sweep_id"], name), data)
    return {name: store.uri_for(record.sweep_key(document["sweep_id"], name)) for name in files}
