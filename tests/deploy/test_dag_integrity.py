"""The DAG file: parses fast with no AWS and nothing heavy, has the designed tasks, validates its form."""

from __future__ import annotations

import copy
import json
import subprocess

import pytest

from sentiment_pipeline.training.runner import LEASE_S
from support.airflow_harness import DAG_ID, clean_environ
from support.project import BIN, ROOT

DEPLOY_TASKS = ("package", "build_image", "deploy", "smoke_test")  # ECS mode, after the gate
REPORT_LINKS = ["Run reports", "Runs index"]  # the train task's extra links (deploy/airflow_links.py)

PROBE = r"""
import json, sys
import airflow.sdk, airflow.providers.amazon.aws.operators.ecs  # the DAG processor has these loaded already
import botocore.endpoint

def no_network(*args, **kwargs):
    raise AssertionError("AWS call at parse time")

botocore.endpoint.Endpoint.make_request = no_network
import socket
socket.socket.connect = no_network
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
dag = bag.dags.get("sentiment_training")
gate = dag.get_task("quality_gate") if dag else None
# what the API server (and so the UI) sees: the DAG as serialized into the database and read back
from airflow.serialization.serialized_objects import DagSerialization
served = DagSerialization.from_dict(DagSerialization.to_dict(dag)) if dag else None
print(json.dumps({
    "errors": {k: str(v) for k, v in bag.import_errors.items()},
    "heavy": [m for m in ("tensorflow", "bentoml", "pandas", "keras", "sklearn") if m in sys.modules],
    "tasks": {t.task_id: sorted(t.downstream_task_ids) for t in dag.tasks} if dag else None,
    "types": {t.task_id: type(t).__name__ for t in dag.tasks} if dag else None,
    "schedule": str(dag.schedule) if dag else None,
    "trigger_rules": {t.task_id: getattr(t.trigger_rule, "value", t.trigger_rule) for t in dag.tasks} if dag else None,
    "gate_skips_all_downstream": getattr(gate, "ignore_downstream_trigger_rules", None),
    "extra_links": {t.task_id: t.extra_links for t in served.tasks if t.extra_links} if served else None,
    "retry_delay_s": {t.task_id: t.retry_delay.total_seconds() for t in dag.tasks} if dag else None,
}))
"""


def parse(mode: str | None, tmp_path, **extra_env) -> dict:
    """Load the dags folder in a fresh interpreter with no AWS credentials and sockets disabled."""
    env = {**clean_environ(), "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False", **extra_env}
    if mode:
        env["SENTIMENT_PIPELINE_MODE"] = mode
    result = subprocess.run(
        [str(BIN / "python"), "-c", PROBE, str(ROOT / "dags")], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_ecs_mode_parses_without_aws_or_heavy_imports(tmp_path):
    info = parse(None, tmp_path)  # ecs is the default mode
    assert info["errors"] == {}
    assert info["heavy"] == []  # parse time itself is measured by the DAG processor, not asserted here
    assert info["tasks"] == {
        "resolve_config": [
            "build_image",
            "deploy",
            "evaluate",
            "package",
            "plan_gate",
            "quality_gate",
            "smoke_test",
            "train",
        ],
        "train": ["plan_gate"],
        "plan_gate": ["evaluate"],  # asks ECS what is deployed, composes the gate container's command
        "evaluate": ["quality_gate"],  # scores both models in the training image, writes gate.json
        "quality_gate": ["package"],
        "package": ["build_image"],
        "build_image": ["deploy"],
        "deploy": ["smoke_test"],
        "smoke_test": [],
    }
    ecs_tasks = ("train", "evaluate", "package", "build_image")
    assert {info["types"][t] for t in ecs_tasks} == {"EcsRunTaskOperator"}
    assert info["types"]["quality_gate"] == "_ShortCircuitDecoratedOperator"
    assert info["schedule"] == "@weekly"
    # A gate that returns False skips every task after it (not only its direct downstream), and each deploy
    # task runs only when all before it succeeded: a model below the threshold never reaches the service. The
    # gate's decision itself is tested in process (test_orchestration.py, test_dag_ecs.py's gate test).
    assert info["gate_skips_all_downstream"] is True
    assert {t: info["trigger_rules"][t] for t in DEPLOY_TASKS} == dict.fromkeys(DEPLOY_TASKS, "all_success")
    assert info["extra_links"] == {"train": REPORT_LINKS}  # the run's reports, from the training task's page
    # A retried `train` must find a dead run's claim on its id lapsed (its lease), not be refused as "running".
    assert info["retry_delay_s"]["train"] > LEASE_S


def test_local_mode_has_the_same_story_without_ecs(tmp_path):
    info = parse("local", tmp_path, SENTIMENT_PIPELINE_SCHEDULE="@daily")
    assert info["errors"] == {} and info["heavy"] == []
    assert info["tasks"] == {
        "resolve_config": ["deploy", "package", "plan_gate", "quality_gate", "smoke_test", "train"],
        "train": ["plan_gate"],
        "plan_gate": ["evaluate"],
        "evaluate": ["quality_gate"],
        "quality_gate": ["package"],
        "package": ["deploy"],
        "deploy": ["smoke_test"],
        "smoke_test": [],
    }
    assert "EcsRunTaskOperator" not in info["types"].values()
    assert info["schedule"] == "@daily"
    assert info["extra_links"] == {"train": REPORT_LINKS}


def test_an_unknown_mode_is_an_import_error_that_names_it(tmp_path):
    info = parse("kubernetes", tmp_path)
    errors = info["errors"]  # each DAG file of the folder (training, monitoring, sweep) refuses it
    dag_files = {"sentiment_training.py", "sentiment_monitoring.py", "sentiment_sweep.py"}
    assert {name.rsplit("/", 1)[-1] for name in errors} == dag_files
    assert all("SENTIMENT_PIPELINE_MODE='kubernetes' is not one of ecs, local" in error for error in errors.values())


@pytest.fixture(scope="module")
def dags(tmp_path_factory, monkeypatch_module) -> dict:
    """The DAG of every file of the dags folder (ECS mode), imported in this process: dag_id -> DAG."""
    monkeypatch_module.setenv("AIRFLOW_HOME", str(tmp_path_factory.mktemp("af")))
    monkeypatch_module.setenv("SENTIMENT_PIPELINE_MODE", "ecs")
    import importlib.util

    found = {}
    for path in sorted((ROOT / "dags").glob("sentiment_*.py")):
        spec = importlib.util.spec_from_file_location(f"{path.stem}_dag", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        found[module.dag.dag_id] = module.dag
    return found


@pytest.fixture(scope="module")
def dag(dags):
    return dags[DAG_ID]


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def test_the_form_has_typed_defaults_from_the_pipeline(dag):
    from sentiment_pipeline.params import DEFAULTS

    params = dag.params.validate()
    assert params["epochs"] == DEFAULTS["epochs"] and params["learning_rate"] == DEFAULTS["learning_rate"]
    assert params["data_uri"] is None and params["extra_params"] == [] and 0 < params["min_macro_f1"] < 1
    assert params["eval_data_uri"] is None and params["gate_margin"] == 0.005


def test_a_field_left_empty_on_the_trigger_form_does_not_block_the_trigger(dags):
    """Airflow's trigger form marks a field required unless its type allows null, and greys out Trigger while a
    required field is empty: every field whose default is empty (the data and evaluation URIs: "use the configured
    one") must allow null, and the form must validate with them empty."""
    empty = {}
    for dag_id, dag in dags.items():
        for name, param in dag.params.items():
            if param.value in (None, ""):
                empty[f"{dag_id}.{name}"] = param.schema.get("type")
        dag.params.validate()
    assert empty and all(isinstance(t, list) and "null" in t for t in empty.values()), empty
    assert {"sentiment_training.data_uri", "sentiment_sweep.eval_data_uri"} <= set(empty)


@pytest.mark.parametrize(
    "bad",
    [
        {"epochs": 0},
        {"epochs": "three"},
        {"min_macro_f1": 1.5},
        {"gate_margin": -0.01},
        {"stemmer": "lancaster"},
        {"extra_params": ["not a pair"]},
        {"remove_stop_words": "yes"},
    ],
)
def test_the_form_rejects_bad_values(dag, bad):
    from airflow.sdk.exceptions import ParamValidationError

    params = copy.deepcopy(dag.params)
    with pytest.raises(ParamValidationError):
        params.update(bad)  # what a trigger's conf does to the form
        params.validate()
