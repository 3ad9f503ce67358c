"""``sentiment-pipeline monitor`` end to end: captured answers of a real run's model, checked and archived."""

from __future__ import annotations

import io
import json
import shutil
import time
from collections import Counter
from datetime import UTC, datetime

import httpx
import pandas as pd
import pytest

from sentiment_pipeline.records import captures, record
from sentiment_pipeline.records.store import LocalStore
from support.project import ROOT, SHARED_DATA, cli
from support.serving import bentoml_serve, register_sample_model

TWEETEVAL = ROOT.parent / "shared" / "data" / "tweeteval_sentiment" / "val.csv"


def _ask(url: str, texts: list[str]) -> None:
    """Half the texts one by one through /predict, the other half through /predict_batch, as clients would."""
    half = len(texts) // 2
    with httpx.Client(base_url=url, timeout=30) as client:
        for text in texts[:half]:
            response = client.post("/predict", json={"text": text})
            assert response.status_code == 200, response.text
        for start in range(half, len(texts), 150):
            response = client.post("/predict_batch", json={"texts": texts[start : start + 150]})
            assert response.status_code == 200, response.text


def _mark() -> str:
    """A boundary between two groups of requests (the capture times each answer to the millisecond)."""
    time.sleep(0.01)
    mark = datetime.now(UTC)
    time.sleep(0.01)
    return mark.isoformat()


def _unseen_tweets(store, run_id: str, n: int) -> list[str]:
    """Tweets of the kind the run trained on that are in none of its splits."""
    manifest = record.succeeded_manifest(store, run_id)
    used = set()
    for part in ("train", "val", "test"):
        raw = record.read_verified(store, run_id, record.split_path(part), manifest)
        used |= set(pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False)["text"])
    frame = pd.read_csv(SHARED_DATA, dtype=str, keep_default_na=False)
    unseen = frame[~frame["text"].isin(used) & (frame["text"].str.strip() != "")]
    return unseen["text"].sample(n, random_state=1).tolist()


@pytest.mark.slow
def test_a_served_models_captures_are_refused_when_few_calm_when_alike_and_drift_from_another_corpus(
    finished_run, tmp_path
):
    """The measured path: a real ``bentoml serve`` of the run's model captures what /predict and /predict_batch
    answer into a folder; ``monitor`` reads three windows of it: 40 tweets (refused), 600 tweets of the kind the
    model trained on but never saw (no drift), 600 TweetEval tweets (drift)."""
    source, run_id = finished_run
    store_dir = tmp_path / "store"
    shutil.copytree(source, store_dir)
    store = LocalStore(store_dir)
    unseen = _unseen_tweets(store, run_id, 640)
    tweeteval = pd.read_csv(TWEETEVAL, dtype=str, keep_default_na=False)["text"].sample(600, random_state=2).tolist()
    folder = tmp_path / "captures"
    env = register_sample_model(store_dir, tmp_path / "bentoml", run_id)
    with bentoml_serve({**env, "SENTIMENT_CAPTURE_URI": str(folder)}, tmp_path / "serve.log") as url:
        t0 = _mark()
        _ask(url, unseen[:40])
        t1 = _mark()
        _ask(url, unseen[40:])
        t2 = _mark()
        _ask(url, tweeteval)
    # the graceful stop wrote every worker's last segment
    args = ("--store", str(store_dir), "--run-id", run_id, "--captures", str(folder), "--fail-on-drift")

    refused = cli("monitor", *args, "--since", t0, "--until", t1)
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.count("\n") == 1 and "only 40 captured answers" in refused.stderr
    assert not store.list(record.MONITORING)  # nothing recorded

    small = ("-p", "min_texts=50")  # the run's test split, the reference, holds 60 tweets
    calm = cli("monitor", *args, *small, "--since", t1, "--until", t2, "--monitor-id", "calm")
    assert calm.returncode == 0, calm.stderr
    result = json.loads(calm.stdout)
    assert result["monitor_id"] == "calm" and result["run_id"] == run_id and result["n_texts"] == 600
    assert result["drift"] is False, result
    assert 0 <= result["prediction_js"] < 0.1 and result["text_drift_auc"] is not None

    moved = cli("monitor", *args, *small, "--since", t2, "--monitor-id", "moved")
    assert moved.returncode == 3, moved.stderr
    drift = json.loads(moved.stdout)
    assert drift["drift"] is True and drift["n_texts"] == 600
    assert drift["text_drift_auc"] > result["text_drift_auc"]
    assert drift["oov_rate"] > drift["reference_oov_rate"]
    read = captures.read_captures(
        LocalStore(folder), record.tag_version(run_id), *map(datetime.fromisoformat, (t1, t2))
    )
    assert Counter(line["route"] for line in read.lines) == {"predict": 300, "predict_batch": 300}
    assert [line["text"] for line in read.lines] == unseen[40:]  # in the order they were answered

    # archived like a run: the executed notebook, its report, drift.json and a manifest with every file's hash
    record_files = {key.split("/", 2)[2] for key in store.list(record.monitoring_key("moved"))}
    assert record_files == {"monitor.ipynb", record.MONITOR_REPORT, record.DRIFT, record.MANIFEST}
    manifest = json.loads((store_dir / record.monitoring_key("moved", record.MANIFEST)).read_text())
    assert manifest["status"] == "succeeded" and manifest["drift"] is True and manifest["captures"]["n"] == 600
    assert {entry["path"] for entry in manifest["files"]} == record_files - {record.MANIFEST}
    report = (store_dir / record.monitoring_key("moved", record.MONITOR_REPORT)).read_text()
    assert "Monitoring" in report and "Drift in 600 captured texts" in report and "text_drift_auc_threshold" in report
    index = (store_dir / record.INDEX).read_text()
    assert 'class="badge drift"' in index and 'class="badge nodrift"' in index
