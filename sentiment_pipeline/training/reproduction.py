"""Re-executing a recorded run, and saying whether it came out the same.

``sentiment-pipeline reproduce`` runs the notebooks *as the run recorded them* (its executed ``.ipynb``; papermill
replaces their injected parameters) with its recorded parameters on its recorded data, into a new run whose
record says ``reproduces: <run>`` and holds ``reproduction.json``: whether metrics, weights, splits and tokenizer
are identical, and by how much they differ if not. The data must be the same bytes (sha256), else nothing runs.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DatasetError, StoreError, UsageError
from ..inference import LABELS_FILE, MODEL_FILE, ONNX_FILE, TOKENIZER_FILE
from ..records import documents, record
from ..records.store import Store, read_uri
from .data import SPLITS, load_dataset
from .notebook_execution import PIPELINE_NOTEBOOKS

# Wall-clock measurements: they differ between any two executions and say nothing about the model.
VOLATILE_METRICS = ("timings", "training.clean_s", "training.fit_s", "teacher.timings")
DIFFERENCES_SHOWN = 20
WEIGHTS_IN_KERAS_FILE = "model.weights.h5"  # Keras 3's .keras zip keeps every variable here


@dataclass(frozen=True)
class Source:
    """What a reproduction of ``run_id`` runs: its parameters, data, evaluation file and notebooks."""

    run_id: str
    params: dict[str, Any]
    data_uri: str
    eval_data_uri: str | None
    notebooks: Path


def _same_bytes(uri: str, recorded: Mapping[str, Any], what: str, run_id: str, flag: str) -> None:
    """The file at ``uri`` must be the one the run recorded (sha256); the error names both and the way out."""
    try:
        raw = read_uri(uri)
    except StoreError as exc:
        raise StoreError(f"run {run_id}'s {what} cannot be read: {exc}; pass {flag} with a copy of it") from None
    found = record.sha256_bytes(raw)
    if found == recorded.get("sha256"):
        return
    try:
        rows = f", {len(load_dataset(raw, str(recorded.get('name') or 'data.csv')).frame):,} rows"
    except DatasetError:
        rows = ""
    raise DatasetError(
        f"the {what} changed since run {run_id}: {uri} has sha256 {found[:12]} ({len(raw):,} bytes{rows}); the run "
        f"recorded {str(recorded.get('sha256'))[:12]} ({recorded.get('bytes', 0):,} bytes, {recorded.get('rows')} "
        f"rows). A reproduction needs the same bytes: pass {flag} with the original file"
    )


def prepare(
    store: Store, run_id: str, workdir: Path, data_uri: str | None = None, eval_data_uri: str | None = None
) -> Source:
    """Check that ``run_id`` can be reproduced (succeeded, same data) and fetch its recorded notebooks."""
    manifest = record.succeeded_manifest(store, run_id)
    recorded = record.read_params(store, run_id, manifest)
    data_uri = data_uri or recorded["data"]["uri"]
    _same_bytes(data_uri, recorded["data"], "data", run_id, "--data")
    if recorded.get("eval_data"):
        eval_data_uri = eval_data_uri or recorded["eval_data"]["uri"]
        _same_bytes(eval_data_uri, recorded["eval_data"], "evaluation file", run_id, "--eval-data")
    elif eval_data_uri:
        raise UsageError(f"run {run_id} had no evaluation file; with --eval-data it would be a different run")
    notebooks = workdir / "notebooks"
    notebooks.mkdir(parents=True, exist_ok=True)
    for name in PIPELINE_NOTEBOOKS:
        path = record.notebook_path(name)
        (notebooks / Path(path).name).write_bytes(record.read_verified(store, run_id, path, manifest))
    return Source(run_id, recorded["params"], data_uri, eval_data_uri, notebooks)


# ---- comparing the two records ---------------------------------------------------------------------------------------
def _leaves(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping):
        for key in value:
            yield from _leaves(value[key], f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(item, f"{path}[{index}]")
    else:
        yield path, value


def compare_metrics(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """Every recorded number and label of two ``metrics.json`` but the wall-clock timings, leaf by leaf."""

    def stable(metrics: Mapping[str, Any]) -> dict[str, Any]:
        return {
            path: value
            for path, value in _leaves(metrics)
            if not any(path == v or path.startswith(f"{v}.") for v in VOLATILE_METRICS)
        }

    left, right = stable(a), stable(b)
    differences, largest = [], 0.0
    for path in sorted(set(left) | set(right)):
        x, y = left.get(path), right.get(path)
        if x == y:
            continue
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (x, y))
        if numeric and math.isfinite(x) and math.isfinite(y):
            largest = max(largest, abs(float(x) - float(y)))
        differences.append({"path": path, "recorded": x, "reproduced": y})
    return {
        "identical": not differences,
        "macro_f1": {"recorded": left.get("model.macro_f1"), "reproduced": right.get("model.macro_f1")},
        "compared": len(set(left) | set(right)),
        "differ": len(differences),
        "max_abs_diff": largest,
        "differences": differences[:DIFFERENCES_SHOWN],
    }


def _weights(keras_file: bytes) -> dict[str, np.ndarray]:
    """Every variable of a ``.keras`` file by its path, read with h5py (no TensorFlow, nothing executed)."""
    import h5py

    with zipfile.ZipFile(io.BytesIO(keras_file)) as archive:
        data = archive.read(WEIGHTS_IN_KERAS_FILE)
    arrays: dict[str, np.ndarray] = {}

    def collect(name: str, node) -> None:  # visititems stops at the first callback that returns a value
        if isinstance(node, h5py.Dataset):
            arrays[name] = node[()]

    with h5py.File(io.BytesIO(data), "r") as weights:
        weights.visititems(collect)
    return arrays


def compare_weights(a: bytes, b: bytes) -> dict[str, Any]:
    """Two ``model.keras`` files variable by variable: identical, or the largest absolute difference."""
    left, right = _weights(a), _weights(b)
    differing, largest = [], 0.0
    for name in sorted(set(left) | set(right)):
        x, y = left.get(name), right.get(name)
        if x is None or y is None or x.shape != y.shape:
            differing.append(name)
            largest = math.inf
        elif not np.array_equal(x, y):
            differing.append(name)
            largest = max(largest, float(np.max(np.abs(x.astype(np.float64) - y.astype(np.float64)))))
    return {
        "identical": not differing,
        "tensors": len(set(left) | set(right)),
        "parameters": int(sum(v.size for v in left.values())),
        "differ": len(differing),
        "max_abs_diff": largest if math.isfinite(largest) else None,
        "differing": differing[:DIFFERENCES_SHOWN],
    }


def compare_records(store: Store, source_id: str, new_id: str, new_manifest: Mapping[str, Any]) -> dict[str, Any]:
    """``reproduction.json``: the new run's record against the source's (``new_manifest``: its files so far)."""
    source_manifest = record.succeeded_manifest(store, source_id)

    def read(run_id: str, name: str, manifest: Mapping[str, Any]) -> bytes:
        return record.read_verified(store, run_id, name, dict(manifest))

    recorded = {e["path"]: e["sha256"] for e in source_manifest.get("files", [])}
    reproduced = {e["path"]: e["sha256"] for e in new_manifest.get("files", [])}
    same_file = {
        name: recorded.get(name) == reproduced.get(name)
        for name in [record.split_path(part) for part in SPLITS]
        + [f"{record.MODEL_DIR}{TOKENIZER_FILE}", f"{record.MODEL_DIR}{LABELS_FILE}", f"{record.MODEL_DIR}{ONNX_FILE}"]
    }
    metrics = compare_metrics(
        json.loads(read(source_id, record.METRICS, source_manifest)),
        json.loads(read(new_id, record.METRICS, new_manifest)),
    )
    weights = compare_weights(
        read(source_id, f"{record.MODEL_DIR}{MODEL_FILE}", source_manifest),
        read(new_id, f"{record.MODEL_DIR}{MODEL_FILE}", new_manifest),
    )
    splits_same = all(same_file[record.split_path(part)] for part in SPLITS)
    tokenizer_same = same_file[f"{record.MODEL_DIR}{TOKENIZER_FILE}"]
    versions = {
        name: {"recorded": source_manifest.get("versions", {}).get(name), "reproduced": value}
        for name, value in record.library_versions().items()
        if source_manifest.get("versions", {}).get(name) != value
    }
    return documents.reproduction_document(
        source_id,
        new_id,
        metrics=metrics,
        weights=weights,
        splits_identical=splits_same,
        tokenizer_identical=tokenizer_same,
        onnx_file_identical=same_file[f"{record.MODEL_DIR}{ONNX_FILE}"],
        code={"recorded": source_manifest.get("git"), "reproduced": record.git_commit()},
        versions_changed=versions,
    )


def summary(outcome: Mapping[str, Any]) -> str:
    """One line for the run's progress output and the CLI."""
    metrics, weights = outcome["metrics"], outcome["weights"]
    if outcome["identical"]:
        return (
            f"identical to run {outcome['reproduces']}: {metrics['compared']} metric values, {weights['tensors']} "
            f"weight tensors ({weights['parameters']:,} parameters), splits and tokenizer"
        )
    parts = []
    if not metrics["identical"]:
        f1 = metrics.get("macro_f1") or {}
        moved = (
            f"; macro-F1 {f1['recorded']:.4f} -> {f1['reproduced']:.4f}"
            if all(isinstance(f1.get(k), float) for k in ("recorded", "reproduced"))
            else ""
        )
        parts.append(f"{metrics['differ']} metric values differ (largest by {metrics['max_abs_diff']:.3g}{moved})")
    if not weights["identical"]:
        biggest = "shapes differ" if weights["max_abs_diff"] is None else f"largest by {weights['max_abs_diff']:.3g}"
        parts.append(f"{weights['differ']} of {weights['tensors']} weight tensors differ ({biggest})")
    if not outcome["splits_identical"]:
        parts.append("the splits differ")
    if not outcome["tokenizer_identical"]:
        parts.append("the tokenizer differs")
    return f"differs from run {outcome['reproduces']}: " + "; ".join(parts)
