"""A sweep's plan (sentiment_pipeline/sweep_plan.py): the grid checked against the parameter table before anything
runs, the points' run ids and commands."""

from __future__ import annotations

import pytest

from sentiment_pipeline import sweep_plan
from sentiment_pipeline.errors import ParamError


def test_a_grid_is_typed_by_the_parameter_table_and_each_value_counts_once():
    grid = sweep_plan.parse_grid(["lstm_units=16, 32,16", "stemmer=none,porter", "remove_stop_words=true,false"])
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
        sweep_plan.parse_grid(grid)


def test_every_point_is_checked_before_anything_runs():
    plan = sweep_plan.plan_sweep(["lstm_units=8,16", "dropout=0.1,0.3"], ["epochs=1"], "s1")
    assert [plan.run_id(i) for i in range(len(plan.points))] == ["s1-p01", "s1-p02", "s1-p03", "s1-p04"]
    assert plan.points[1] == {"lstm_units": 8, "dropout": 0.3} and plan.overrides(plan.points[1])["epochs"] == 1
    with pytest.raises(ParamError, match=r"point lstm_units=8, dropout=1.5: parameter dropout must be in"):
        sweep_plan.plan_sweep(["lstm_units=8", "dropout=0.1,1.5"], [])
    with pytest.raises(ParamError, match="epochs is both swept"):
        sweep_plan.plan_sweep(["epochs=1,2"], ["epochs=1"])
    with pytest.raises(ParamError, match=r"the grid has 72 points \(9 lstm_units x 8 seed\); a sweep runs at most 64"):
        sweep_plan.plan_sweep(
            ["lstm_units=" + ",".join(map(str, range(8, 17))), "seed=" + ",".join(map(str, range(8)))],
            [],
        )
    with pytest.raises(ValueError, match="invalid run id"):
        sweep_plan.plan_sweep(["lstm_units=8"], [], "../escape")


def test_a_point_runs_as_the_run_command_naming_its_sweep():
    plan = sweep_plan.plan_sweep(["remove_stop_words=true,false"], ["epochs=1"], "s2")
    command = sweep_plan.point_command(plan, 1, "s3://d/tweets.csv", "s3://a/p", "s3://d/eval.csv")
    assert command == [
        "sentiment-pipeline", "run", "--data", "s3://d/tweets.csv", "--store", "s3://a/p", "--run-id", "s2-p02",
        "--sweep-id", "s2", "-p", "epochs=1", "-p", "remove_stop_words=false", "--eval-data", "s3://d/eval.csv",
    ]  # fmt: skip
    assert sweep_plan.default_parallel(4, cores=2) == 2 and sweep_plan.default_parallel(4, cores=8) == 4
    assert sweep_plan.default_parallel(1, cores=8) == 1
