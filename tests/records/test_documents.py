"""The record's documents (sentiment_pipeline/records/documents.py, docs/run-record.md), built from hand-made facts."""

import json

import pytest

from sentiment_pipeline.records import documents, record
from sentiment_pipeline.records.store import LocalStore


def _scores(macro_f1: float) -> dict:
    return {"n": 3, "accuracy": macro_f1, "macro_f1": macro_f1, "macro_recall": macro_f1, "per_class": {}}


def _manifest(status: str, **optional) -> dict:
    return documents.manifest_document(
        "r1",
        status,
        started_at="2026-12-04T10:00:00+00:00",
        duration_s=12.5,
        error="boom" if status == record.FAILED else None,
        failed_step="train",
        data={"name": "d.csv", "sha256": "ab"},
        timings={"data_s": 0.1},
        notebooks={},
        files=[documents.file_entry("b.txt", b"bb"), documents.file_entry("a.txt", b"a")],
        lease=documents.lease_document("l1", 120),
        **optional,
    )


def test_a_running_manifest_has_no_finish_and_a_finished_one_has_its_time_and_failed_step():
    running, failed = _manifest(record.RUNNING), _manifest(record.FAILED)
    assert (running["finished_at"], running["duration_s"], running["failed_step"]) == (None, None, None)
    assert failed["finished_at"] and failed["duration_s"] == 12.5 and failed["failed_step"] == "train"
    assert failed["error"] == "boom"
    assert [entry["path"] for entry in failed["files"]] == ["a.txt", "b.txt"]  # sorted by path
    assert failed["files"][0] == {"path": "a.txt", "sha256": record.sha256_bytes(b"a"), "bytes": 1}
    assert set(failed["lease"]) == {"id", "heartbeat_at", "lease_s", "host", "pid"}
    assert "git" in failed and "python" in failed["versions"]
    json.dumps(failed)


def test_optional_fields_appear_only_when_used_so_older_readers_see_what_they_always_saw():
    plain = _manifest(record.SUCCEEDED)
    assert "eval_data" not in plain and "reproduces" not in plain
    both = _manifest(record.SUCCEEDED, eval_data={"name": "e.csv"}, reproduces="r0")
    assert both["eval_data"] == {"name": "e.csv"} and both["reproduces"] == "r0"
    assert documents.params_document("r1", {"rows": 3}, {"epochs": 1}) == {
        "run_id": "r1",
        "data": {"rows": 3},
        "params": {"epochs": 1},
    }
    assert documents.params_document("r1", {}, {}, reproduces="r0")["reproduces"] == "r0"


def test_a_heartbeat_renews_only_the_lease_time():
    manifest = _manifest(record.RUNNING)
    manifest["lease"]["heartbeat_at"] = "2000-01-01T00:00:00+00:00"
    renewed = documents.renewed(manifest)
    assert renewed["lease"]["heartbeat_at"] != "2000-01-01T00:00:00+00:00"
    assert {k: v for k, v in renewed.items() if k != "lease"} == {k: v for k, v in manifest.items() if k != "lease"}


def test_metrics_document_has_the_documented_structure():
    history = {"members": [{"best_epoch": 2}, {"best_epoch": 1}], "val_macro_f1": 0.76}
    document = documents.metrics_document(
        _scores(0.75), _scores(0.71), history, split_sizes={"train": 8, "val": 1, "test": 1}, clean_s=1.234, fit_s=9.87
    )
    assert set(document) == {"model", "baseline", "lstm_minus_baseline_macro_f1", "training", "data"}
    assert document["lstm_minus_baseline_macro_f1"] == pytest.approx(0.04)
    assert document["training"] == {
        "ensemble_size": 2,
        "best_epochs": [2, 1],
        "val_macro_f1": 0.76,
        "history": history,
        "clean_s": 1.23,
        "fit_s": 9.87,
    }
    assert document["data"] == {"train": 8, "val": 1, "test": 1}
    json.dumps(document)  # recordable as-is


def test_metrics_document_records_the_interval_of_the_difference_only_when_given():
    history = {"members": [{"best_epoch": 1}], "val_macro_f1": 0.7}
    sizes = {"train": 8, "val": 1, "test": 1}
    interval = {"n": 1, "delta": -0.04, "low": -0.1, "high": 0.02, "confidence": 0.95, "resamples": 2000, "seed": 0}
    document = documents.metrics_document(
        _scores(0.71), _scores(0.75), history, split_sizes=sizes, clean_s=1, fit_s=1, difference_interval=interval
    )
    assert document["lstm_minus_baseline_interval"] == interval
    older = documents.metrics_document(_scores(0.71), _scores(0.75), history, split_sizes=sizes, clean_s=1, fit_s=1)
    assert "lstm_minus_baseline_interval" not in older  # runs recorded before it read as they always did


def test_the_notebook_hands_metrics_to_the_runner_which_adds_the_timings(tmp_path):
    documents.write_metrics_file(tmp_path / "out", {"model": _scores(0.7)})
    metrics = documents.with_timings(documents.read_metrics_file(tmp_path / "out"), {"train_s": 3.0}, 4.567)
    assert metrics == {"model": _scores(0.7), "timings": {"train_s": 3.0, "total_s": 4.57}}
    assert (tmp_path / "out" / record.METRICS).is_file()


def test_gate_comparison_and_deployed_documents_go_where_the_record_says(tmp_path):
    store = LocalStore(tmp_path)
    gate = documents.gate_document(
        "r2",
        threshold=0.6,
        margin=0.005,
        promote=False,
        reason="below",
        candidate={"run_id": "r2", "macro_f1": 0.5, "scored_on": "test split"},
        deployed_unusable={"run_id": "r1", "error": "changed"},
    )
    assert (gate["decision"], gate["deployed"], gate["deployed_unusable"]["run_id"]) == ("hold", None, "r1")
    documents.write_gate(store, gate)
    assert documents.read_gate(store, "r2") == gate and documents.read_gate(store, "r1") is None
    assert "deployed_unusable" not in documents.gate_document(
        "r3", threshold=0, margin=0, promote=True, reason="ok", candidate={}
    )

    comparison = documents.comparison_document(
        {"run_id": "r1", "params": {"seed": 1, "epochs": 2}, "data": {"sha256": "x"}},
        {"run_id": "r2", "params": {"seed": 2, "epochs": 2}, "data": {"sha256": "x"}},
        texts={"source": "eval_data", "eval_data": {"sha256": "0123456789abcdef"}},
        labels=["a"],
        metrics={},
        macro_f1={},
        mcnemar={},
        per_class={},
        changed={},
    )
    assert comparison["params_differences"] == [{"name": "seed", "a": 1, "b": 2}] and comparison["same_data"]
    assert "params" not in comparison["a"]
    stored = documents.write_comparison(store, comparison, "<html></html>")
    assert stored["json"].endswith("runs/r2/comparisons/eval-0123456789ab/r1.json")
    assert json.loads((tmp_path / "runs/r2/comparisons/eval-0123456789ab/r1.json").read_text()) == comparison

    deployed = documents.deployed_document("r2", {"model": _scores(0.8)}, bento_tag="b:1", model_tag="m:1")
    documents.write_deployed(store, deployed)
    assert record.read_deployed_run_id(store) == "r2" and deployed["macro_f1"] == 0.8
    documents.write_latest(store, "r2", 0.8)
    assert record.resolve_run_id(store, "latest") == "r2"
