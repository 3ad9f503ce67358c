"""``sentiment-pipeline sweep``: the grid checked before anything runs, every point a run of its own, the points
ranked on the same texts (sentiment_pipeline/training/sweep.py)."""

from __future__ import annotations

import json

import pytest

from sentiment_pipeline.records import record
from sentiment_pipeline.training import sweep
from support.project import TINY, as_args, cli


def _document(**changes) -> dict:
    points = [
        {"index": 1, "run_id": "s-p01", "params": {"lstm_units": 8}, "status": "succeeded", "rank": 2,
         "macro_f1": 0.70, "against_best": {"delta": -0.05, "low": -0.08, "high": -0.02}, "mcnemar": {"p_value": 0.01},
         "duration_s": 30.0},
        {"index": 2, "run_id": "s-p02", "params": {"lstm_units": 16}, "status": "succeeded", "rank": 1,
         "macro_f1": 0.75, "duration_s": 31.0},
        {"index": 3, "run_id": "s-p03", "params": {"lstm_units": 32}, "status": "failed", "duration_s": 5.0,
         "error": "error: run s-p03 failed in train: boom"},
    ]  # fmt: skip
    return {"sweep_id": "s", "grid": {"lstm_units": [8, 16, 32]}, "points": points, "best": "s-p02",
            "failed_points": ["s-p03"], "texts": {"n": 1200, "source": "test splits"}, **changes}  # fmt: skip


def test_the_report_ranks_the_points_and_says_which_are_clearly_worse():
    table = sweep.points_table(_document())
    assert list(table["run"]) == ["s-p02", "s-p01", "s-p03"]  # by rank, the failed point last
    assert table.loc[1, "minus the best (95% interval)"] == "-0.0500 [-0.0800, -0.0200]"
    assert table.loc[2, "reason"] == "run s-p03 failed in train: boom"
    assert sweep.verdict(_document()) == (
        "Best: s-p02 (lstm_units=16), macro-F1 0.7500 on 1,200 texts. 1 of the 1 other points are clearly worse "
        "(their interval lies below zero); 0 cannot be told apart from it on these texts. 1 point(s) failed: s-p03."
    )
    assert sweep.verdict(_document(best=None)).startswith("No point succeeded.")


@pytest.mark.slow
def test_a_sweep_runs_its_points_ranks_those_that_succeed_and_fails_on_the_one_that_did_not(labelled_csv, tmp_path):
    """One point succeeds, one fails (the ranking of several is the DAG test's: tests/deploy/test_dag_sweep.py)."""
    store = tmp_path / "store"
    fixed = as_args({k: v for k, v in TINY.items() if k != "min_count"})
    # min_count=1000000 leaves the vocabulary empty: that point fails in its train notebook
    args = ("sweep", "--data", str(labelled_csv), "--store", str(store), "--grid", "min_count=1,1000000", *fixed)

    result = cli(*args, "--parallel", "2", "--sweep-id", "s")

    assert result.returncode == 1, result.stderr
    out = json.loads(result.stdout)
    assert out == {**out, "sweep_id": "s", "best": "s-p01", "points": 2, "failed_points": ["s-p02"], "texts": 60}
    document = json.loads((store / record.sweep_key("s", record.SWEEP)).read_text())
    assert document["status"] == "failed" and document["texts"]["source"] == "test splits"
    assert document["texts"]["excluded_seen_in_training"] == 0  # the test split: no point trained on it
    p01, p02 = document["points"]
    assert (p01["params"], p02["params"]) == ({"min_count": 1}, {"min_count": 1000000})
    assert p01["status"] == "succeeded" and p01["rank"] == 1 and 0 <= p01["macro_f1"] <= 1
    assert p01["macro_f1"] == pytest.approx(p01["recorded_test_macro_f1"])  # its own test split, scored again
    assert p02["status"] == "failed" and p02["error"].startswith("error: run s-p02 failed in train")
    assert "no word occurs at least min_count=1000000 times" in p02["error"]
    assert "macro_f1" not in p02 and p02["last_lines"]
    # each point is a normal run whose params.json names the sweep; a point leaves latest.json alone
    params = json.loads((store / record.run_key("s-p01", record.PARAMS)).read_text())
    assert params["sweep"] == "s" and params["params"]["min_count"] == 1
    assert not (store / record.LATEST).exists()
    report = (store / record.sweep_key("s", record.SWEEP_REPORT)).read_text()
    assert "Sweep report" in report and "Macro-F1 against each swept parameter" in report and "s-p02" in report
    index = (store / record.INDEX).read_text()
    assert 'href="sweeps/s/sweep.html"' in index and "point of sweep" in index

    # run again: the point that succeeded is kept, the failed one runs again; another grid under this id is refused
    before = (store / record.run_key("s-p01", record.MANIFEST)).read_bytes()
    again = cli(*args, "--parallel", "1", "--sweep-id", "s")
    assert again.returncode == 1 and "s-p01 (min_count=1): succeeded before, kept" in again.stderr
    assert (store / record.run_key("s-p01", record.MANIFEST)).read_bytes() == before
    other_grid = cli("sweep", "--data", str(labelled_csv), "--store", str(store), "--grid", "min_count=3,4",
                     *fixed, "--sweep-id", "s")  # fmt: skip
    assert other_grid.returncode == 2 and other_grid.stdout == ""
    assert other_grid.stderr.count("\n") == 1 and "run s-p01 exists" in other_grid.stderr


@pytest.mark.slow
def test_sigterm_stops_the_running_point_records_it_failed_and_starts_no_other(labelled_csv, tmp_path):
    """ECS and Airflow stop a task with SIGTERM: the sweep passes it on to the point running, which records itself
    failed, starts none of the others, and exits as a process ended by that signal, in one line."""
    import signal
    import subprocess
    import time

    from support.project import BIN

    store = tmp_path / "store"
    fixed = as_args({k: v for k, v in TINY.items() if k != "lstm_units"})
    command = [str(BIN / "sentiment-pipeline"), "sweep", "--data", str(labelled_csv), "--store", str(store),
               "--grid", "lstm_units=4,8", *fixed, "--parallel", "1", "--sweep-id", "t"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    manifest = store / record.run_key("t-p01", record.MANIFEST)
    deadline = time.monotonic() + 120
    while not (manifest.exists() and json.loads(manifest.read_text()).get("status") == "running"):
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=120)

    assert process.returncode == 128 + signal.SIGTERM, err
    assert out == "" and err.strip().splitlines()[-1].startswith("error: sweep t stopped by signal 15")
    assert json.loads(manifest.read_text())["status"] == "failed"  # the point's runner recorded why it ended
    assert not (store / record.run_key("t-p02")).exists()  # the next point never started
    assert not (store / record.sweep_key("t", record.SWEEP)).exists()  # nothing ranked: run it again to finish
