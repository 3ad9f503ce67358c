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


def unlike_tweets(n: int, seed: int = 0) -> list[str]:
    """Texts of no kind a model trained on tweets has seen (six consonant-only "words" each): drift, surely."""
    import random

    rng = random.Random(seed)
    return [" ".join("".join(rng.choices("bcdfghjklmnpqrstvwxz", k=7)) for _ in range(6)) for _ in range(n)]


def capture_segment(run_id: str, texts: list[str], labels: list[str], store) -> str:
    """What the service captures when run ``run_id``'s model answered ``texts`` with ``labels`` an hour ago: one
    segment written to ``store`` (a capture store: local folder or S3); its key."""
    from datetime import UTC, datetime, timedelta

    from sentiment_pipeline.records import captures

    version = record.tag_version(run_id)
    when = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    lines = [
        captures.capture_line(
            request_id=f"req-{i}",
            time=(when + timedelta(seconds=i)).isoformat(timespec="milliseconds"),
            model=f"tweet_sentiment:{version}",
            route="predict",
            text=text,
            text_facts=None,
            label=label,
            scores={name: float(name == label) for name in ("negative", "neutral", "positive")},
        )
        for i, (text, label) in enumerate(zip(texts, labels, strict=True))
    ]
    key = captures.segment_key(version, when, "w0", 0)
    store.write_bytes(key, captures.encode_segment(lines))
    return key
