"""One run id, one writer: a run claims its id with a compare-and-swap on the manifest before writing anything, and
holds it with a lease its heartbeat renews; a claim whose heartbeat lapsed is a dead run's, taken over."""

import json
import multiprocessing
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sentiment_pipeline.errors import ParamError, StoreError
from sentiment_pipeline.records import record
from sentiment_pipeline.records.store import LocalStore
from sentiment_pipeline.training.runner import (
    LEASE_S,
    STALE_RUNNING_S,
    _Heartbeat,
    _remove_leftovers,
    _Run,
    heartbeat_interval,
    lease_seconds,
)
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


# ---- the lease: a running record names its holder and its last heartbeat; a lapsed one belongs to a dead run --------
def _leased(store: LocalStore, run_id: str, silent_s: float, lease_s: float = 120) -> bytes:
    """A ``running`` manifest whose holder last renewed its claim ``silent_s`` ago."""
    beat = (datetime.now(UTC) - timedelta(seconds=silent_s)).isoformat(timespec="seconds")
    lease = {"id": "someone-else", "heartbeat_at": beat, "lease_s": lease_s, "host": "task-1", "pid": 7}
    document = {"run_id": run_id, "status": "running", "started_at": beat, "files": [], "lease": lease}
    store.write_bytes(record.run_key(run_id, record.MANIFEST), record.to_json_bytes(document))
    return record.to_json_bytes(document)


def test_a_claim_whose_heartbeat_lapsed_is_taken_over_with_one_warning_and_no_flag(tmp_path):
    store = LocalStore(tmp_path)
    lines: list[str] = []
    _leased(store, "dead", silent_s=LEASE_S + 30)
    _Run(store, "dead", lines.append).claim()  # what an Airflow retry does: no flag
    claimed = json.loads(store.read_bytes(record.run_key("dead", record.MANIFEST)))
    assert claimed["status"] == "running" and claimed["lease"]["id"] != "someone-else"
    assert claimed["lease"]["lease_s"] == LEASE_S and claimed["lease"]["heartbeat_at"]
    assert len(lines) == 1 and lines[0].startswith("warning: run dead was left 'running' by a process that stopped")
    assert "task-1 pid 7" in lines[0]


def test_a_live_claim_is_refused_with_when_it_lapses_and_its_own_lease_counts(tmp_path):
    store = LocalStore(tmp_path)
    live = _leased(store, "live", silent_s=20)
    for take_over in (False, True):  # a live run is never taken over, even when asked
        with pytest.raises(StoreError, match=r"run live is already running .*lapses 120 s after its last heartbeat"):
            _claim(store, "live", take_over)
    assert store.read_bytes(record.run_key("live", record.MANIFEST)) == live
    # the record's lease, not the new run's, says how long its claim holds
    patient = _leased(store, "patient", silent_s=LEASE_S + 30, lease_s=3600)
    with pytest.raises(StoreError, match="already running"):
        _Run(store, "patient", lambda _: None, lease_s=10).claim()
    assert store.read_bytes(record.run_key("patient", record.MANIFEST)) == patient


def test_the_heartbeat_renews_the_claim_and_never_touches_a_finished_manifest(tmp_path):
    store = LocalStore(tmp_path / "store")
    run = _Run(store, "beating", lambda _: None, lease_s=10)  # a beat every 2.5 s
    run.claim()
    key = record.run_key("beating", record.MANIFEST)
    first = json.loads(store.read_bytes(key))["lease"]["heartbeat_at"]
    (tmp_path / "work").mkdir()
    with _Heartbeat(run, tmp_path / "work") as beating:
        deadline = time.monotonic() + 20
        while json.loads(store.read_bytes(key))["lease"]["heartbeat_at"] == first:
            assert time.monotonic() < deadline, "no heartbeat in 20 s"
            time.sleep(0.2)
        run.write_manifest("failed", "boom")
        finished = store.read_bytes(key)
        time.sleep(2 * heartbeat_interval(10))  # beats that would have come
        assert store.read_bytes(key) == finished and json.loads(finished)["status"] == "failed"
    beating.thread.join(timeout=10)
    assert not beating.thread.is_alive()
    assert json.loads((tmp_path / "work" / "lease.json").read_text())["run_id"] == "beating"


def test_a_run_whose_claim_was_taken_over_stops_and_never_writes_over_the_new_holder(tmp_path):
    store = LocalStore(tmp_path)
    run = _Run(store, "taken", lambda _: None)
    run.claim()
    other = _leased(store, "taken", silent_s=0)  # another process took the id over while this one was cut off
    with pytest.raises(StoreError, match="taken over by another process"):
        run.heartbeat()
    with pytest.raises(StoreError, match="taken over by another process"):
        run.check_claim()  # before the next cell: the run stops
    with pytest.raises(StoreError, match="taken over by another process"):
        run.write_manifest("failed", "boom")
    assert store.read_bytes(record.run_key("taken", record.MANIFEST)) == other


def test_the_lease_comes_from_the_option_else_the_environment_and_has_a_range(monkeypatch):
    monkeypatch.delenv("SENTIMENT_PIPELINE_LEASE_S", raising=False)
    assert lease_seconds() == LEASE_S == 120
    monkeypatch.setenv("SENTIMENT_PIPELINE_LEASE_S", "300")
    assert lease_seconds() == 300 and lease_seconds(45) == 45
    for bad in ("5", "7200", "soon"):
        with pytest.raises(ParamError, match="the lease must be"):
            lease_seconds(bad)
    assert heartbeat_interval(120) == 30 and heartbeat_interval(10) == 2.5


def test_leftovers_of_dead_runs_are_removed_once_their_lease_lapsed_never_a_live_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    old = time.time() - STALE_RUNNING_S - 60

    def folder(name: str, beat_age_s: float | None, lease_s: float = 120) -> Path:
        path = tmp_path / f"sentiment-run-{name}"
        (path / "kernels").mkdir(parents=True)
        (path / "kernels" / "kernel-train.json").write_text("{}")  # what a killed run's kernel left
        if beat_age_s is not None:
            (path / "lease.json").write_text(json.dumps({"run_id": name, "lease_s": lease_s}))
            os.utime(path / "lease.json", (time.time() - beat_age_s,) * 2)
        return path

    live = folder("live", beat_age_s=100)  # a long-running run between two beats of a 2-minute lease
    slow_lease = folder("patient", beat_age_s=600, lease_s=3600)
    dead = folder("dead", beat_age_s=200)
    young_legacy = folder("legacy-young", beat_age_s=None)  # made before runs held a lease: age alone
    old_legacy = folder("legacy-old", beat_age_s=None)
    os.utime(old_legacy, (old, old))
    lines: list[str] = []
    _remove_leftovers(lines.append)
    assert live.is_dir() and slow_lease.is_dir() and young_legacy.is_dir()
    assert not dead.exists() and not old_legacy.exists()
    assert len(lines) == 1 and "removed 2 temp folder(s) of runs that died" in lines[0]
