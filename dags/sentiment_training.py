"""Train the tweet sentiment model on a schedule, gate it on quality, and deploy it.

ECS mode (default): ``train`` runs ``sentiment-pipeline run`` as a Fargate task of the training image,
``evaluate`` runs ``sentiment-pipeline gate`` there too (the candidate and the deployed model scored on the same
texts; the decision goes to ``runs/<run>/gate.json``), ``quality_gate`` reads that decision,
``package`` runs ``sentiment-pipeline package`` there too (bento + build context on S3), ``build_image``
runs Kaniko as a Fargate task (no Docker daemon needed), ``deploy`` rolls the ECS inference service to the
new image, ``smoke_test`` calls the endpoint. Configuration is the Airflow Variable ``sentiment_pipeline``
(terraform outputs), read at run time by ``resolve_config``.

Local mode (``SENTIMENT_PIPELINE_MODE=local``): the same CLI as local processes; deploy = register the
model and build the bento. Data and store from ``SENTIMENT_PIPELINE_DATA`` / ``SENTIMENT_PIPELINE_STORE``.

``train`` links the run's reports in the UI (extra links "Run reports" and "Runs index": the S3 console, or
``file://`` in local mode). Nothing heavy is imported here and nothing calls AWS at parse time. See docs/airflow.md.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

from airflow.providers.amazon.aws.operators.ecs import EcsRunTaskOperator
from airflow.sdk import DAG, AssetOrTimeSchedule, CronTriggerTimetable, Param, XComArg, chain, task

from sentiment_pipeline.deploy import dag_tasks
from sentiment_pipeline.deploy import orchestration as orch
from sentiment_pipeline.deploy.airflow_assets import RETRAIN_ASSET
from sentiment_pipeline.deploy.airflow_links import link_reports
from sentiment_pipeline.params import BY_NAME, DEFAULTS, FORM_PARAMETERS, GATE_MARGIN

DAG_ID = "sentiment_training"
MODE = orch.pipeline_mode()
AWS_CONN_ID = "aws_default"
PROJECT_DIR = Path(os.environ.get("SENTIMENT_PIPELINE_PROJECT_DIR") or Path(__file__).resolve().parents[1])
SCHEDULE = os.environ.get("SENTIMENT_PIPELINE_SCHEDULE", "@weekly") or None  # "" or "none": manual runs only
POLL_SECONDS = int(os.environ.get("SENTIMENT_PIPELINE_POLL_SECONDS", "15"))
TRAIN_TIMEOUT = timedelta(hours=3)
BUILD_TIMEOUT = timedelta(hours=1)
EVALUATE_TIMEOUT = timedelta(minutes=30)
DEPLOY_TIMEOUT = timedelta(minutes=30)
RETRIES = int(os.environ.get("SENTIMENT_PIPELINE_RETRIES", "1"))
# Longer than a run's lease on its id (sentiment_pipeline.training.runner.LEASE_S, 2 min; the training container's
# SENTIMENT_PIPELINE_LEASE_S if set): a retried `train` of a task that died (SIGKILL, a lost machine, a store that
# failed it) then finds the dead run's claim lapsed and takes the run id over, instead of being refused.
RETRY_DELAY = timedelta(minutes=3)


def training_schedule(schedule: str | None) -> str | AssetOrTimeSchedule | list | None:
    """SCHEDULE; with SENTIMENT_PIPELINE_RETRAIN_ON_DRIFT set, also every retrain request of sentiment_monitoring."""
    timed = schedule if schedule not in ("none", "None") else None
    if not orch.retrain_on_drift():
        return timed
    if timed is None:
        return [RETRAIN_ASSET]
    timetable = CronTriggerTimetable(orch.cron_of(timed), timezone="UTC")
    return AssetOrTimeSchedule(timetable=timetable, assets=[RETRAIN_ASSET])


PARAMS = {
    "data_uri": Param(
        "",
        type="string",
        title="Dataset URI",
        description="Labelled CSV/Parquet (path, s3://, https://). Empty: $SENTIMENT_PIPELINE_DATA, else the "
        "Variable's data_uri, else (local mode) data/sample.csv.",
    ),
    "eval_data_uri": Param(
        "",
        type="string",
        title="Evaluation set URI",
        description="A labelled file kept apart from the training data; the run and the gate score both models on "
        "it. Empty: $SENTIMENT_PIPELINE_EVAL_DATA, else the Variable's eval_data_uri, else none (the test splits).",
    ),
    "min_macro_f1": Param(
        0.70,
        type="number",
        minimum=0,
        maximum=1,
        title="Quality threshold",
        description="Deploy only if the candidate's macro-F1 reaches this (on the evaluation set if there is one).",
    ),
    "gate_margin": Param(
        GATE_MARGIN,
        type="number",
        minimum=0,
        maximum=0.5,
        title="Gate margin",
        description="Deploy only if the 95% interval of candidate − deployed macro-F1, both scored on the same "
        "texts, stays above −margin.",
    ),
    # every training parameter the form offers, typed and ranged as params.py declares it
    **{name: Param(DEFAULTS[name], title=name, **BY_NAME[name].schema()) for name in FORM_PARAMETERS},
    "extra_params": Param(
        [],
        type="array",
        items={"type": "string", "pattern": "^[a-z_]+=.+$"},
        title="Other parameters",
        description="More -p key=value overrides of `sentiment-pipeline run`, e.g. patience=2.",
    ),
}


@task(multiple_outputs=True)
def resolve_config(params: dict | None = None, run_id: str | None = None) -> dict:
    """Read the configuration (Variable / environment / form) and compose every container command."""
    return dag_tasks.resolve_run_config(MODE, dict(params or {}), str(run_id), PROJECT_DIR, AWS_CONN_ID)


@task(multiple_outputs=True)
def plan_gate(config: dict, params: dict | None = None) -> dict:
    """Find the deployed run (ECS: the service's task definition) and compose the gate's command."""
    form = params or {}
    return dag_tasks.plan_gate(config, float(form["min_macro_f1"]), float(form["gate_margin"]), AWS_CONN_ID)


@task(task_id="evaluate", execution_timeout=EVALUATE_TIMEOUT)
def evaluate_locally(plan: dict) -> dict:
    """Score the candidate and the deployed model on the same texts and record the decision (local mode)."""
    return dag_tasks.run_local_command(plan["command"])


@task.short_circuit
def quality_gate(config: dict) -> bool:
    """Continue to deploy only if the evaluation promoted the run: threshold reached, and not worse than deployed."""
    return dag_tasks.quality_gate(config, AWS_CONN_ID)


@task(task_id="train", execution_timeout=TRAIN_TIMEOUT)
def train_locally(command: list[str]) -> dict:
    """Run ``sentiment-pipeline run`` as a local process (local mode)."""
    return dag_tasks.run_local_command(command)


@task(task_id="package", execution_timeout=BUILD_TIMEOUT)
def package_locally(command: list[str]) -> dict:
    """Register the model and build the bento (local mode)."""
    return dag_tasks.run_local_command(command, cwd=PROJECT_DIR)


@task(execution_timeout=DEPLOY_TIMEOUT)
def deploy(config: dict) -> dict:
    """Roll the ECS inference service to the new image and wait until it is stable (ECS mode)."""
    return dag_tasks.deploy_to_ecs(config, AWS_CONN_ID, poll_seconds=POLL_SECONDS, timeout=DEPLOY_TIMEOUT)


@task(task_id="deploy")
def deploy_locally(config: dict, packaged: dict) -> dict:
    """Record the new bento as the deployed model (local mode)."""
    return dag_tasks.record_local_deployment(config, packaged)


@task(execution_timeout=timedelta(minutes=10))
def smoke_test(config: dict) -> dict:
    """Check /readyz and one /predict on the deployed endpoint (local mode: the bento holds the model)."""
    return dag_tasks.smoke_test(config)


def fargate_task(
    task_id: str, config: XComArg, prefix: str, timeout: timedelta, overrides: XComArg | None = None
) -> EcsRunTaskOperator:
    """A Fargate task of the pipeline's cluster whose log stream is forwarded into the Airflow task log."""
    return EcsRunTaskOperator(
        task_id=task_id,
        overrides=overrides if overrides is not None else config[f"{prefix}_overrides"],
        **orch.fargate_arguments(config, prefix, timeout, poll_seconds=POLL_SECONDS, aws_conn_id=AWS_CONN_ID),
    )


with DAG(
    dag_id=DAG_ID,
    description="Train (notebooks via papermill), gate on macro-F1, package, deploy the tweet sentiment model",
    schedule=training_schedule(SCHEDULE),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    params=PARAMS,
    default_args={"retries": RETRIES, "retry_delay": RETRY_DELAY},
    doc_md=__doc__,
    tags=["ml", "sentiment", MODE],
) as dag:
    config = resolve_config()
    plan = plan_gate(config)
    gate = quality_gate(config)

    if MODE == "ecs":
        train = link_reports(fargate_task("train", config, "training", TRAIN_TIMEOUT))
        evaluate = fargate_task("evaluate", config, "gate", EVALUATE_TIMEOUT, overrides=plan["overrides"])
        package = fargate_task("package", config, "package", BUILD_TIMEOUT)
        build_image = fargate_task("build_image", config, "image_builder", BUILD_TIMEOUT)
        chain(config, train, plan, evaluate, gate, package, build_image, deploy(config), smoke_test(config))
    else:
        train = train_locally(config["train_command"])
        link_reports(train.operator)
        evaluate = evaluate_locally(plan)
        package = package_locally(config["package_command"])
        chain(config, train, plan, evaluate, gate, package, deploy_locally(config, package), smoke_test(config))
