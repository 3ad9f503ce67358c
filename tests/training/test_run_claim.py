"""One run id, one writer: a run claims its id with a compare-and-swap on the manifest before writing anything."""

import json
import multiprocessing
from datetime import UTC, datetime, timedelta

import pytest

from sentiment_pipeline.errors import StoreError
from sentiment_pipeline.records import record
from sentiment_pipeline.records.store import LocalStore
from sentiment_pipeline.training.runner import STALE_RUNNING_S, _Run
from support.project import cli


def _manifest(store: LocalStore, run_id: str, status: str, age_s: float = 0) -> bytes:
    started = (datetime.now(UTC) - timedelta(seconds=age_s)).isoformat(timespec="seconds")
    data = record.to_json_bytes({"run_id": run_id, "status": status, "started_at": started, "files": []})
    store.write_bytes(record.run_key(run_id, record.MANIFEST), data)
    return data


def _claim(store: LocalStore, run_id: str, take_over_stale: bool = False) -> dict:
    _Run(store, run_id, lambda _: None).claim(take_over_stale)
    return json.loads(store.read_bytes(record.run_key(run_id, record.MANIFEST)))


def test_a_new_or_failed_id_is_claimed_a_succeeded_or_running_one_is_not(tmp_path):
    store = LocalStore(tmp_path)
    assert _claim(store, "new")["status"] == "running"
    _manifest(store, "retry", "failed")
    assert _claim(store, "retry")["status"] == "running"  # an Airflow retry of a failed run
    _manifest(store, "done", "succeeded")
    with pytest.raises(StoreError, match="run done already succeeded"):
        _claim(store, "done")
    busy = _manifest(store, "busy", "running", age_s=60)
    for take_over in (False, True):  # a live run is never taken over, even when asked
        with pytest.raises(StoreError, match=r"run busy is already running \(started .*, 1 min ago\)"):
            _claim(store, "busy", take_over)
    assert store.read_bytes(record.run_key("busy", record.MANIFEST)) == busy  # untouched


def test_a_stale_running_record_is_taken_over_only_when_asked(tmp_path):
    store = LocalStore(tmp_path)
    stale = _manifest(store, "lost", "running", age_s=STALE_RUNNING_S + 60)
    with pytest.raises(StoreError, match="pass --take-over-stale"):
        _claim(store, "lost")
    assert store.read_bytes(record.run_key("lost", record.MANIFEST)) == stale
    claimed = _claim(store, "lost", take_over_stale=True)
    assert claimed["status"] == "running" and claimed["started_at"] != json.loads(stale)["started_at"]


def _race(root: str, barrier, results) -> None:
    barrier.wait()
    try:
        _Run(LocalStore(root), "same-id", lambda _: None).claim()
        results.put("claimed")
    except StoreError as exc:
        results.put(str(exc))


def test_of_many_processes_starting_one_run_id_at_once_exactly_one_claims_it(tmp_path):
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(8), context.Queue()
    racers = [context.Process(target=_race, args=(str(tmp_path), barrier, results)) for _ in range(8)]
    for racer in racers:
        racer.start()
    outcomes = [results.get(timeout=60) for _ in racers]
    for racer in racers:
        racer.join()
    assert outcomes.count("claimed") == 1, outcomes
    assert all("already running" in o or "at the same moment" in o for o in outcomes if o != "claimed"), outcomes


def test_the_cli_refuses_a_running_id_with_one_line_and_exit_2(tmp_path):
    store = LocalStore(tmp_path / "store")
    busy = _manifest(store, "busy", "running", age_s=5)
    (tmp_path / "data.csv").write_text("text,label_text\nhi,positive\n")
    result = cli("run", "--data", str(tmp_path / "data.csv"), "--store", str(tmp_path / "store"), "--run-id", "busy")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: run busy is already running")
    assert store.read_bytes(record.run_key("busy", record.MANIFEST)) == busy
    assert store.list("runs/busy/") == ["runs/busy/manifest.json"]  # nothing of the second run was written
