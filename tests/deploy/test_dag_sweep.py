"""The ``sentiment_sweep`` DAG: one mapped task per grid point (Fargate tasks in ECS mode, processes in local mode),
then the ranking, its outcome and, when the form asks, the best point through sentiment_training's gate and deploy
tasks."""

from __future__ import annotations

import json
import subprocess

import pytest

from sentiment_pipeline.deploy import dag_tasks
from sentiment_pipeline.deploy import orchestration as orch
from sentiment_pipeline.errors import ConfigError
from sentiment_pipeline.records import record
from support.airflow_harness import RELEASE_TASKS, clean_environ, dags_test, local_mode_env
from support.project import BIN, ROOT, TINY

DAG_ID = "sentiment_sweep"
PROBE = r"""
import json, sys
import botocore.endpoint

def no_network(*args, **kwargs):
    raise AssertionError("AWS call at parse time")

botocore.endpoint.Endpoint.make_request = no_network
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
dag = bag.dags["sentiment_sweep"]
print(json.dumps({
    "errors": {k: str(v) for k, v in bag.import_errors.items()},
    "tasks": {t.task_id: sorted(t.downstream_task_ids) for t in dag.tasks},
    "types": {t.task_id: type(t).__name__ for t in dag.tasks},
    "operators": {t.task_id: getattr(t, "operator_class", type(t)).__name__ if not isinstance(
        getattr(t, "operator_class", None), dict) else t.operator_class.get("task_type") for t in dag.tasks},
    "at_once": {t.task_id: t.max_active_tis_per_dagrun for t in dag.tasks},
    "trigger_rules": {t.task_id: getattr(t.trigger_rule, "value", t.trigger_rule) for t in dag.tasks},
    "heavy": [m for m in ("tensorflow", "pandas", "numpy", "sklearn") if m in sys.modules],
    "schedule": str(dag.schedule),
}))
"""


def parse(tmp_path, mode: str) -> dict:
    env = {**clean_environ(), "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    env["SENTIMENT_PIPELINE_MODE"] = mode
    result = subprocess.run(
        [str(BIN / "python"), "-c", PROBE, str(ROOT / "dags")], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["ecs", "local"])
def test_the_sweep_maps_one_task_per_point_then_ranks_whatever_happened(tmp_path, mode):
    info = parse(tmp_path, mode)
    assert info["errors"] == {} and info["schedule"] == "None"  # manual runs only
    release = RELEASE_TASKS[mode]
    # the best point's configuration feeds the gate's plan and every later task that reads it
    configured = info["tasks"].pop("resolve_best")
    assert "plan_gate" in configured and set(configured) <= set(release)
    assert info["tasks"] == {
        "resolve_sweep": ["each_point", "outcome", "point", "rank"],
        "each_point": ["point"],
        "point": ["rank"],
        "rank": ["outcome"],
        "outcome": ["promote_best", "resolve_best"],
        "promote_best": ["resolve_best"],
        # the tasks sentiment_training runs after `train` (deploy/airflow_release.py), one after another
        **{task: [after] for task, after in zip(release, release[1:], strict=False)},
        release[-1]: [],
    }
    assert info["types"]["promote_best"] == "_ShortCircuitDecoratedOperator"
    assert info["types"]["point"] in ("MappedOperator", "DecoratedMappedOperator")
    if mode == "ecs":  # every point a Fargate task of the training image; the ranking one too
        assert info["operators"]["point"] == "EcsRunTaskOperator" and info["types"]["rank"] == "EcsRunTaskOperator"
        assert info["at_once"]["point"] == 8
    else:
        assert info["at_once"]["point"] == 1  # processes on one machine: one at a time by default
    assert info["trigger_rules"]["rank"] == info["trigger_rules"]["outcome"] == "all_done"
    assert "tensorflow" not in info["heavy"]


def test_the_forms_grid_and_parameters_become_the_sweeps_arguments():
    grid, params = dag_tasks.sweep_arguments({"grid": {"lstm_units": [16, 32], "remove_stop_words": [True]},
                                              "params": {"epochs": 1}})  # fmt: skip
    assert (grid, params) == (["lstm_units=16,32", "remove_stop_words=true"], ["epochs=1"])
    with pytest.raises(ConfigError, match="grid must map parameters to lists of values"):
        dag_tasks.sweep_arguments({"grid": {"lstm_units": 16}})
    with pytest.raises(ConfigError, match="params must map parameters to values"):
        dag_tasks.sweep_arguments({"grid": {"lstm_units": [16]}, "params": ["epochs=1"]})
    command = orch.sweep_rank_command("s3://d/t.csv", "s3://a/p", "manual__x", grid, params, "s3://d/e.csv")
    assert command == [
        "sentiment-pipeline", "sweep", "--data", "s3://d/t.csv", "--store", "s3://a/p", "--sweep-id", "manual__x",
        "--grid", "lstm_units=16,32", "--grid", "remove_stop_words=true", "-p", "epochs=1", "--rank-only",
        "--eval-data", "s3://d/e.csv",
    ]  # fmt: skip


@pytest.mark.slow
def test_local_mode_trains_each_point_ranks_them_and_deploys_the_best(airflow_env, sample_csv, tmp_path):
    store = tmp_path / "store"
    env = local_mode_env(airflow_env, sample_csv, store, tmp_path / "bentoml")
    fixed = {k: v for k, v in TINY.items() if k != "lstm_units"}
    form = {"grid": {"lstm_units": [4, 8]}, "params": fixed, "promote_best": True, "min_macro_f1": 0.0}

    result = dags_test(env, form, dag_id=DAG_ID)

    assert result.state == "success", result.output[-6000:]
    sweep_tasks = ("resolve_sweep", "each_point", "point", "rank", "outcome", "promote_best", "resolve_best")
    assert result.task_states == dict.fromkeys((*sweep_tasks, *RELEASE_TASKS["local"]), "success")
    sweep_id = result.run_id
    document = json.loads((store / record.sweep_key(sweep_id, record.SWEEP)).read_text())
    assert [p["run_id"] for p in document["points"]] == [f"{sweep_id}-p01", f"{sweep_id}-p02"]
    assert document["status"] == "succeeded" and document["best"] in {p["run_id"] for p in document["points"]}
    for point in document["points"]:
        params = json.loads((store / record.run_key(point["run_id"], record.PARAMS)).read_text())
        assert params["sweep"] == sweep_id and params["params"]["lstm_units"] == point["params"]["lstm_units"]
        assert params["params"]["epochs"] == 1
    # the ranking: both scored on the same texts, the other one's macro-F1 minus the best's with its interval
    best = next(p for p in document["points"] if p["run_id"] == document["best"])
    [other] = [p for p in document["points"] if p["run_id"] != document["best"]]
    assert best["rank"] == 1 and other["rank"] == 2 and best["macro_f1"] >= other["macro_f1"]
    assert other["against_best"]["delta"] == pytest.approx(other["macro_f1"] - best["macro_f1"])
    assert other["against_best"]["low"] <= other["against_best"]["delta"] <= other["against_best"]["high"]
    assert set(other["mcnemar"]) == {"only_a", "only_b", "p_value"} and document["texts"]["n"] > 0
    assert (store / record.sweep_key(sweep_id, record.SWEEP_REPORT)).is_file()
    assert f"best {document['best']}" in result.output  # the outcome task's log line
    # the best point went the way a training run goes: gated (nothing deployed yet), registered, bento built, served
    gate = json.loads((store / record.run_key(document["best"], record.GATE)).read_text())
    assert gate["decision"] == "promote" and gate["run_id"] == document["best"]
    deployed = json.loads((store / record.DEPLOYED).read_text())
    assert deployed["run_id"] == document["best"] and deployed["model_tag"] == orch.model_tag(document["best"])
    assert f"'model': '{deployed['model_tag']}'" in result.output  # the smoke test's /predict named it
