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

from airflow.sdk import DAG, AssetOrTimeSchedule, CronTriggerTimetable, Param, chain, task

from sentiment_pipeline.deploy import dag_tasks
from sentiment_pipeline.deploy import orchestration as orch
from sentiment_pipeline.deploy.airflow_assets import RETRAIN_ASSET
from sentiment_pipeline.deploy.airflow_links import link_reports
from sentiment_pipeline.deploy.airflow_release import fargate_task, gate_and_deploy, gate_params
from sentiment_pipeline.params import BY_NAME, DEFAULTS, FORM_PARAMETERS

DAG_ID = "sentiment_training"
MODE = orch.pipeline_mode()
AWS_CONN_ID = "aws_default"
PROJECT_DIR = Path(os.environ.get("SENTIMENT_PIPELINE_PROJECT_DIR") or Path(__file__).resolve().parents[1])
SCHEDULE = os.environ.get("SENTIMENT_PIPELINE_SCHEDULE", "@weekly") or None  # "" or "none": manual runs only
POLL_SECONDS = int(os.environ.get("SENTIMENT_PIPELINE_POLL_SECONDS", "15"))
TRAIN_TIMEOUT = timedelta(hours=3)
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
        None,
        type=["null", "string"],  # optional: the UI's trigger form requires a field whose type has no null
        title="Dataset URI",
        description="Labelled CSV/Parquet (path, s3://, https://). Empty: $SENTIMENT_PIPELINE_DATA, else the "
        "Variable's data_uri, else (local mode) data/sample.csv.",
    ),
    "eval_data_uri": Param(
        None,
        type=["null", "string"],
        title="Evaluation set URI",
        description="A labelled file kept apart from the training data; the run and the gate score both models on "
        "it. Empty: $SENTIMENT_PIPELINE_EVAL_DATA, else the Variable's eval_data_uri, else none (the test splits).",
    ),
    **gate_params(),
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


@task(task_id="train", execution_timeout=TRAIN_TIMEOUT)
def train_locally(command: list[str]) -> dict:
    """Run ``sentiment-pipeline run`` as a local process (local mode)."""
    return dag_tasks.run_local_command(command)


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
    if MODE == "ecs":
        train = link_reports(
            fargate_task("train", config, "training", TRAIN_TIMEOUT, aws_conn_id=AWS_CONN_ID, poll_seconds=POLL_SECONDS)
        )
    else:
        train = train_locally(config["train_command"])
        link_reports(train.operator)
    release = gate_and_deploy(config, MODE, aws_conn_id=AWS_CONN_ID, poll_seconds=POLL_SECONDS, project_dir=PROJECT_DIR)
    chain(config, train, *release)
