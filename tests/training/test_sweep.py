"""``sentiment-pipeline sweep``: the grid checked before anything runs, every point a run of its own, the points
ranked on the same texts (sentiment_pipeline/training/sweep.py)."""

from __future__ import annotations

import json

import pytest

from sentiment_pipeline.errors import ParamError
from sentiment_pipeline.records import record
from sentiment_pipeline.training import sweep
from support.project import TINY, as_args, cli


def test_a_grid_is_typed_by_the_parameter_table_and_each_value_counts_once():
    grid = sweep.parse_grid(["lstm_units=16, 32,16", "stemmer=none,porter", "remove_stop_words=true,false"])
    assert grid == {"lstm_units": [16, 32], "stemmer": ["none", "porter"], "remove_stop_words": [True, False]}


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        (["lstm_units=8,eight"], "parameter lstm_units: 'eight' is not a valid int"),
        (["units=8,16"], "unknown parameter 'units'"),
        (["lstm_units"], "is not key=value1,value2"),
        (["lstm_units=,"], "--grid lstm_units has no values"),
        (["lstm_units=8", "lstm_units=16"], "--grid lstm_units is given twice"),
        (["split_seed=1,2"], "a sweep's points share their split"),
        (["test_size=0.1,0.2"], "a sweep's points share their split"),
        ([], "at least one --grid"),
    ],
)
def test_a_bad_grid_is_one_clear_error(grid, message):
    with pytest.raises(ParamError, match=message):
        sweep.parse_grid(grid)


def test_every_point_is_checked_before_anything_runs():
    plan = sweep.plan_sweep(["lstm_units=8,16", "dropout=0.1,0.3"], ["epochs=1"], "s1")
    assert [plan.run_id(i) for i in range(len(plan.points))] == ["s1-p01", "s1-p02", "s1-p03", "s1-p04"]
    assert plan.points[1] == {"lstm_units": 8, "dropout": 0.3} and plan.overrides(plan.points[1])["epochs"] == 1
    with pytest.raises(ParamError, match=r"point lstm_units=8, dropout=1.5: parameter dropout must be in"):
        sweep.plan_sweep(["lstm_units=8", "dropout=0.1,1.5"], [])
    with pytest.raises(ParamError, match="epochs is both swept"):
        sweep.plan_sweep(["epochs=1,2"], ["epochs=1"])
    with pytest.raises(ParamError, match=r"the grid has 72 points \(9 lstm_units x 8 seed\); a sweep runs at most 64"):
        sweep.plan_sweep(["lstm_units=" + ",".join(map(str, range(8, 17))), "seed=" + ",".join(map(str, range(8)))], [])
    with pytest.raises(ValueError, match="invalid run id"):
        sweep.plan_sweep(["lstm_units=8"], [], "../escape")


def test_a_point_runs_as_the_run_command_naming_its_sweep():
    plan = sweep.plan_sweep(["remove_stop_words=true,false"], ["epochs=1"], "s2")
    command = sweep.point_command(plan, 1, "s3://d/tweets.csv", "s3://a/p", "s3://d/eval.csv")
    assert command == [
        "sentiment-pipeline", "run", "--data", "s3://d/tweets.csv", "--store", "s3://a/p", "--run-id", "s2-p02",
        "--sweep-id", "s2", "-p", "epochs=1", "-p", "remove_stop_words=false", "--eval-data", "s3://d/eval.csv",
    ]  # fmt: skip
    assert sweep.default_parallel(4, cores=2) == 1 and sweep.default_parallel(4, cores=8) == 4
    assert sweep.default_parallel(1, cores=8) == 1


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
    store = tmp_path / "store"
    fixed = as_args({k: v for k, v in TINY.items() if k != "min_count"})
    # min_count=1000000 leaves the vocabulary empty: that point fails in its train notebook
    args = ("sweep", "--data", str(labelled_csv), "--store", str(store), "--grid", "min_count=1,2,1000000", *fixed)

    result = cli(*args, "--parallel", "2", "--sweep-id", "s")

    assert result.returncode == 1, result.stderr
    out = json.loads(result.stdout)
    assert out["failed_points"] == ["s-p03"] and out["points"] == 3 and out["best"] in ("s-p01", "s-p02")
    document = json.loads((store / record.sweep_key("s", record.SWEEP)).read_text())
    assert document["status"] == "failed" and document["texts"]["source"] == "test splits"
    p01, p02, p03 = document["points"]
    assert (p01["params"], p03["params"]) == ({"min_count": 1}, {"min_count": 1000000})
    assert p03["status"] == "failed" and p03["error"].startswith("error: run s-p03 failed in train")
    assert "no word occurs at least min_count=1000000 times" in p03["error"]
    assert "macro_f1" not in p03 and p03["last_lines"]
    best, other = (p01, p02) if document["best"] == "s-p01" else (p02, p01)
    assert best["rank"] == 1 and other["rank"] == 2 and best["macro_f1"] >= other["macro_f1"]
    assert other["against_best"]["delta"] == pytest.approx(other["macro_f1"] - best["macro_f1"])
    assert other["against_best"]["low"] <= other["against_best"]["delta"] <= other["against_best"]["high"]
    assert set(other["mcnemar"]) == {"only_a", "only_b", "p_value"}
    # both points were scored on the same texts: their shared test split, which neither trained on
    assert document["texts"]["n"] == 60 and document["texts"]["excluded_seen_in_training"] == 0
    # each point is a normal run whose params.json names the sweep; a point leaves latest.json alone
    for point in (p01, p02):
        params = json.loads((store / record.run_key(point["run_id"], record.PARAMS)).read_text())
        assert params["sweep"] == "s" and params["params"]["min_count"] == point["params"]["min_count"]
    assert not (store / record.LATEST).exists()
    report = (store / record.sweep_key("s", record.SWEEP_REPORT)).read_text()
    assert "Sweep report" in report and "Macro-F1 against each swept parameter" in report and "s-p03" in report
    index = (store / record.INDEX).read_text()
    assert 'href="sweeps/s/sweep.html"' in index and "point of sweep" in index

    # run again: the points that succeeded are kept, the failed one runs again; another grid under this id is refused
    before = (store / record.run_key("s-p01", record.MANIFEST)).read_bytes()
    again = cli(*args, "--parallel", "1", "--sweep-id", "s")
    assert again.returncode == 1 and "s-p01 (min_count=1): succeeded before, kept" in again.stderr
    assert (store / record.run_key("s-p01", record.MANIFEST)).read_bytes() == before
    other_grid = cli("sweep", "--data", str(labelled_csv), "--store", str(store), "--grid", "min_count=3,4",
                     *fixed, "--sweep-id", "s")  # fmt: skip
    assert other_grid.returncode == 2 and other_grid.stdout == ""
    assert other_grid.stderr.count("\n") == 1 and "run s-p01 exists" in other_grid.stderr
