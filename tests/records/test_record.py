"""The run-record contract (sentiment_pipeline/records/record.py, docs/run-record.md) on hand-made records."""

import pytest

from sentiment_pipeline.errors import RunIdError, StoreError
from sentiment_pipeline.records import documents, record
from sentiment_pipeline.records.store import LocalStore


def _scores(macro_f1: float) -> dict:
    return {"n": 3, "accuracy": macro_f1, "macro_f1": macro_f1, "macro_recall": macro_f1, "per_class": {}}


def _store_with(tmp_path, **statuses: str) -> LocalStore:
    store = LocalStore(tmp_path)
    for run_id, status in statuses.items():
        files = {record.METRICS: record.to_json_bytes({"model": _scores(0.7)}), "model/labels.json": b'{"labels": []}'}
        for name, data in files.items():
            store.write_bytes(record.run_key(run_id, name), data)
        recorded = [{"path": n, "sha256": record.sha256_bytes(d), "bytes": len(d)} for n, d in files.items()]
        manifest = {"status": status, "files": recorded}
        store.write_bytes(record.run_key(run_id, record.MANIFEST), record.to_json_bytes(manifest))
    return store


def test_train_notebooks_recorded_before_the_documents_module_still_build_metrics_through_record():
    """A reproduction executes a run's recorded notebooks, which call ``record.metrics_document``."""
    history = {"members": [{"best_epoch": 1}], "val_macro_f1": 0.7}
    args = (_scores(0.75), _scores(0.71), history)
    kwargs = {"split_sizes": {"train": 8, "val": 1, "test": 1}, "clean_s": 1, "fit_s": 2}
    assert record.metrics_document(*args, **kwargs) == documents.metrics_document(*args, **kwargs)


def test_only_a_succeeded_run_is_read(tmp_path):
    store = _store_with(tmp_path, good="succeeded", broken="failed", busy="running")
    assert record.succeeded_manifest(store, "good")["status"] == "succeeded"
    assert record.read_metrics(store, "good")["model"]["macro_f1"] == 0.7
    for run_id, status in (("broken", "failed"), ("busy", "running")):
        with pytest.raises(StoreError, match=f"run {run_id} has status '{status}'"):
            record.read_metrics(store, run_id)
        with pytest.raises(StoreError, match=f"run {run_id} has status '{status}'"):
            record.download_model(store, run_id, tmp_path / "out" / run_id)
    with pytest.raises(StoreError, match="run missing not found"):
        record.succeeded_manifest(store, "missing")
    assert (record.download_model(store, "good", tmp_path / "out" / "good") / "labels.json").is_file()


def test_a_file_changed_missing_or_added_after_the_run_is_refused_naming_it(tmp_path):
    store = _store_with(tmp_path, good="succeeded")
    store.write_bytes(record.run_key("good", "model/labels.json"), b'{"labels": ["changed"]}')
    with pytest.raises(StoreError, match=r"run good: model/labels.json does not match its manifest \(23 bytes"):
        record.download_model(store, "good", tmp_path / "out")
    store.write_bytes(record.run_key("good", record.METRICS), b"{}")
    with pytest.raises(StoreError, match="run good: metrics.json does not match its manifest"):
        record.read_metrics(store, "good")
    store = _store_with(tmp_path / "b", good="succeeded")
    store.write_bytes(record.run_key("good", "model/extra.bin"), b"planted")
    with pytest.raises(StoreError, match="run good: model/extra.bin is not in its manifest"):
        record.download_model(store, "good", tmp_path / "out-b")
    store = _store_with(tmp_path / "c", good="succeeded")
    (tmp_path / "c" / "runs" / "good" / "model" / "labels.json").unlink()
    store.write_bytes(record.run_key("good", "model/other.json"), b"{}")
    with pytest.raises(StoreError, match="model/labels.json recorded in its manifest but missing from the store"):
        record.download_model(store, "good", tmp_path / "out-c")


def test_a_manifest_that_is_not_json_or_not_an_object_is_refused(tmp_path):
    store = LocalStore(tmp_path)
    store.write_bytes(record.run_key("torn", record.MANIFEST), b'{"status": "succ')
    store.write_bytes(record.run_key("list", record.MANIFEST), b'["succeeded"]')
    with pytest.raises(StoreError, match="is not valid JSON"):
        record.succeeded_manifest(store, "torn")
    with pytest.raises(StoreError, match="has status None"):
        record.succeeded_manifest(store, "list")


@pytest.mark.parametrize("run_id", ["../up", "a/b", "", ".hidden", "x" * 129])
def test_run_ids_that_could_escape_the_store_are_refused(run_id):
    with pytest.raises(RunIdError, match="invalid run id"):
        record.check_run_id(run_id)
    assert record.check_run_id("scheduled__2026-11-24T00:00:00+00:00")  # Airflow's run ids pass


def _served_store(tmp_path, *, deployed: str | None, latest_gate: str | None) -> LocalStore:
    """Two succeeded runs, ``promoted`` (older) and ``newest`` (what latest.json names), plus the given record."""
    store = _store_with(tmp_path, promoted=record.SUCCEEDED, newest=record.SUCCEEDED)
    store.write_bytes(record.LATEST, record.to_json_bytes({"run_id": "newest"}))
    if latest_gate:
        gate = {"run_id": "newest", "decision": latest_gate, "promote": latest_gate == "promote"}
        store.write_bytes(record.run_key("newest", record.GATE), record.to_json_bytes(gate))
    if deployed:
        store.write_bytes(record.DEPLOYED, record.to_json_bytes({"run_id": deployed}))
    return store


def test_the_served_run_is_the_promoted_one_in_deployed_json_not_the_latest(tmp_path):
    store = _served_store(tmp_path, deployed="promoted", latest_gate=None)
    assert record.serving_run(store) == ("promoted", "the promoted run in deployed.json")
    assert record.choose_run(store, "served") == record.serving_run(store)
    assert record.choose_run(store, "latest") == ("newest", "the newest succeeded run (latest.json)")
    assert record.choose_run(store, "promoted") == ("promoted", None)  # named: no reason needed


def test_a_run_the_gate_held_is_not_served_while_a_promoted_one_is_recorded(tmp_path):
    store = _served_store(tmp_path, deployed="promoted", latest_gate="hold")
    assert record.serving_run(store) == ("promoted", "the promoted run in deployed.json")


def test_without_deployed_json_the_newest_succeeded_run_is_served_and_said_to_be_unpromoted(tmp_path):
    store = _served_store(tmp_path, deployed=None, latest_gate=None)
    assert record.serving_run(store) == ("newest", "the newest succeeded run: nothing promoted yet (no deployed.json)")
    held = _served_store(tmp_path / "held", deployed=None, latest_gate="hold")
    run_id, why = record.serving_run(held)
    assert run_id == "newest" and why.endswith("nothing promoted yet (no deployed.json); its quality gate said hold")


def test_with_nothing_succeeded_or_promoted_there_is_nothing_to_serve(tmp_path):
    with pytest.raises(StoreError, match="no run has succeeded"):
        record.serving_run(LocalStore(tmp_path))
