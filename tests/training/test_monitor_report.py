"""``sentiment-pipeline monitor`` end to end: captured answers of a real run's model, checked and archived."""

from __future__ import annotations

import io
import json
import shutil
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from sentiment_pipeline.inference.predictor import load_predictor
from sentiment_pipeline.records import captures, record
from sentiment_pipeline.records.store import LocalStore
from support.project import ROOT, SHARED_DATA, cli

TWEETEVAL = ROOT.parent / "shared" / "data" / "tweeteval_sentiment" / "val.csv"
NOW = datetime.now(UTC).replace(microsecond=0)


def _capture(folder, run_id: str, texts: list[str], model_dir) -> None:
    """The service's captures of ``texts``, answered by the run's model an hour ago (two segments)."""
    predictor = load_predictor(model_dir)
    answers = predictor.predict(texts)
    version = record.tag_version(run_id)
    when = NOW - timedelta(hours=1)
    lines = [
        captures.capture_line(
            request_id=f"req-{i}",
            time=(when + timedelta(seconds=i)).isoformat(timespec="milliseconds"),
            model=f"tweet_sentiment:{version}",
            route="predict",
            text=text,
            text_facts=None,
            label=answer["label"],
            scores=answer["scores"],
        )
        for i, (text, answer) in enumerate(zip(texts, answers, strict=True))
    ]
    store = LocalStore(folder)
    half = len(lines) // 2
    for seq, part in enumerate((lines[:half], lines[half:])):
        store.write_bytes(captures.segment_key(version, when, "w0", seq), captures.encode_segment(part))


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
def test_monitor_refuses_too_few_texts_and_tells_tweets_of_the_same_kind_from_another_corpus(finished_run, tmp_path):
    source, run_id = finished_run
    store_dir = tmp_path / "store"
    shutil.copytree(source, store_dir)
    store = LocalStore(store_dir)
    model_dir = record.download_model(store, run_id, tmp_path / "model")
    args = ("--store", str(store_dir), "--run-id", run_id, "--since", (NOW - timedelta(hours=3)).isoformat())

    few = tmp_path / "few"
    _capture(few, run_id, _unseen_tweets(store, run_id, 40), model_dir)
    refused = cli("monitor", *args, "--captures", str(few))
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.count("\n") == 1 and "only 40 captured answers" in refused.stderr
    assert not store.list(record.MONITORING)  # nothing recorded

    same = tmp_path / "same"
    _capture(same, run_id, _unseen_tweets(store, run_id, 300), model_dir)
    small = ("-p", "min_texts=50")  # the run's test split, the reference, holds 60 tweets
    calm = cli("monitor", *args, *small, "--captures", str(same), "--fail-on-drift", "--monitor-id", "calm")
    assert calm.returncode == 0, calm.stderr
    result = json.loads(calm.stdout)
    assert result["monitor_id"] == "calm" and result["run_id"] == run_id and result["n_texts"] == 300
    assert result["drift"] is False, result
    assert 0 <= result["prediction_js"] < 0.1 and result["text_drift_auc"] is not None

    other = tmp_path / "other"
    tweeteval = pd.read_csv(TWEETEVAL, dtype=str, keep_default_na=False)["text"].sample(300, random_state=2).tolist()
    _capture(other, run_id, tweeteval, model_dir)
    moved = cli("monitor", *args, *small, "--captures", str(other), "--fail-on-drift", "--monitor-id", "moved")
    assert moved.returncode == 3, moved.stderr
    drift = json.loads(moved.stdout)
    assert drift["drift"] is True and drift["text_drift_auc"] > result["text_drift_auc"]
    assert drift["oov_rate"] > drift["reference_oov_rate"]

    # archived like a run: the executed notebook, its report, drift.json and a manifest with every file's hash
    record_files = {key.split("/", 2)[2] for key in store.list(record.monitoring_key("moved"))}
    assert record_files == {"monitor.ipynb", record.MONITOR_REPORT, record.DRIFT, record.MANIFEST}
    manifest = json.loads((store_dir / record.monitoring_key("moved", record.MANIFEST)).read_text())
    assert manifest["status"] == "succeeded" and manifest["drift"] is True and manifest["captures"]["n"] == 300
    assert {entry["path"] for entry in manifest["files"]} == record_files - {record.MANIFEST}
    report = (store_dir / record.monitoring_key("moved", record.MONITOR_REPORT)).read_text()
    assert "Monitoring" in report and "Drift in 300 captured texts" in report and "text_drift_auc_threshold" in report
    index = (store_dir / record.INDEX).read_text()
    assert 'class="badge drift"' in index and 'class="badge nodrift"' in index
