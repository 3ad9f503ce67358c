"""The Airflow image: Airflow and the Amazon provider as pinned, the DAG parses in ECS mode with the ECS operator,
no TensorFlow, a non-root user. (`airflow dags test` in local mode would train with TensorFlow, which this image
leaves out by design; the ECS-mode DAG test drives the training and bento images instead.)"""

from __future__ import annotations

import json

import pytest

from support.containers import LABEL, build_project_images, engine_cli, image_config, remove_test_containers
from support.project import constraint

pytestmark = pytest.mark.slow

IMAGE = "sentiment-airflow:latest"
PROBE = r"""
import importlib.util, json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder="/opt/airflow/dags")
dag = bag.dags.get("sentiment_training")
print(json.dumps({
    "errors": {k: str(v) for k, v in bag.import_errors.items()},
    "types": {t.task_id: type(t).__name__ for t in dag.tasks} if dag else None,
    "absent": [m for m in ("tensorflow", "keras", "bentoml", "pandas") if importlib.util.find_spec(m) is None],
}))
"""


@pytest.fixture(scope="module")
def airflow_image():
    build_project_images("airflow")
    yield IMAGE
    remove_test_containers()


def run_in(image: str, *command: str, env: dict[str, str] | None = None) -> str:
    args = ["run", "--rm", "--no-healthcheck", "--label", LABEL]
    for key, value in (env or {}).items():
        args += ["--env", f"{key}={value}"]
    return engine_cli(*args, image, *command).stdout


def test_the_image_runs_airflow_and_the_provider_as_pinned_as_a_non_root_user(airflow_image):
    config = image_config(airflow_image)
    assert config["User"] == "50000:50000" and config["Cmd"] == ["airflow", "version"]
    # kept because the image is built in Docker's format (OCI's has no HEALTHCHECK)
    assert config["Healthcheck"]["Test"] == ["CMD", "airflow", "jobs", "check", "--job-type", "SchedulerJob", "--local"]
    out = run_in(
        airflow_image,
        "sh",
        "-c",
        "id -u; airflow version; python -c 'import airflow.providers.amazon as a; print(a.__version__)'",
    )
    uid, airflow, amazon = out.strip().splitlines()[-3:]
    assert uid == "50000"
    assert airflow == constraint("apache-airflow")
    assert amazon == constraint("apache-airflow-providers-amazon")


def test_the_dag_parses_in_ecs_mode_with_the_ecs_operator_and_no_tensorflow(airflow_image):
    info = json.loads(
        run_in(airflow_image, "python", "-c", PROBE, env={"SENTIMENT_PIPELINE_MODE": "ecs"}).splitlines()[-1]
    )
    assert info["errors"] == {}
    assert {task: info["types"][task] for task in ("train", "package", "build_image")} == dict.fromkeys(
        ("train", "package", "build_image"), "EcsRunTaskOperator"
    )
    assert info["absent"] == ["tensorflow", "keras", "bentoml", "pandas"]


def test_the_airflow_cli_registers_the_dag_in_its_database(airflow_image):
    """What the `db-migrate` container and the DAG processor do on ECS, with the image's own sqlite default."""
    out = run_in(
        airflow_image,
        "sh",
        "-c",
        "airflow db migrate >/dev/null && airflow dags reserialize >/dev/null 2>&1 && "
        "airflow dags list -o json 2>/dev/null && airflow tasks list sentiment_training 2>/dev/null",
        env={"SENTIMENT_PIPELINE_MODE": "ecs"},
    )
    lines = out.strip().splitlines()
    listed = json.loads(next(line for line in lines if line.startswith("[")))
    assert sorted(d["dag_id"] for d in listed) == ["sentiment_monitoring", "sentiment_sweep", "sentiment_training"]
    assert set(lines[-9:]) == {
        "resolve_config",
        "train",
        "plan_gate",
        "evaluate",
        "quality_gate",
        "package",
        "build_image",
        "deploy",
        "smoke_test",
    }
