"""Hand-made run records: a succeeded run's files and a manifest recording their sha256, without training a model."""

from __future__ import annotations

from pathlib import Path

from sentiment_pipeline.records import record
from sentiment_pipeline.records.store import LocalStore

SPLIT_CSV = b"text,label_text\ngood day,positive\nbad day,negative\nsome day,neutral\n"


def write_succeeded_run(root: Path, run_id: str, macro_f1: float = 0.8) -> LocalStore:
    """``runs/<run_id>/`` with what the gate and ``compare`` read of a run (parameters, metrics, the three splits,
    a model folder), every file in a ``succeeded`` manifest. The model is no model: enough for the checks made
    before one is loaded."""
    store = LocalStore(root)
    scores = {"n": 3, "accuracy": macro_f1, "macro_f1": macro_f1, "macro_recall": macro_f1, "per_class": {}}
    files = {
        record.PARAMS: record.to_json_bytes({"params": {"seed": 42}, "data": {"sha256": "0" * 64}}),
        record.METRICS: record.to_json_bytes({"model": scores, "baseline": scores}),
        **{f"data/{split}.csv": SPLIT_CSV for split in ("train", "val", "test")},
        "model/labels.json": b'{"labels": ["negative", "neutral", "positive"]}',
        "model/model.onnx": b"not a model",
    }
    for name, data in files.items():
        store.write_bytes(record.run_key(run_id, name), data)
    recorded = [{"path": n, "sha256": record.sha256_bytes(d), "bytes": len(d)} for n, d in files.items()]
    manifest = {"run_id": run_id, "status": record.SUCCEEDED, "files": recorded}
    store.write_bytes(record.run_key(run_id, record.MANIFEST), record.to_json_bytes(manifest))
    return store
