"""Check the served model's captured answers every day for drift, and alert on it.

``resolve_monitor`` composes ``sentiment-pipeline monitor`` over the run's data interval (``--since`` its start,
``--until`` its end; an empty interval — a manual run — is the day before its end) of the served run's captured
answers; the report's id is the DAG run's id. ``monitor`` runs it: a Fargate task of the training image (ECS mode;
the served run is the one the inference service's task definition names) or a local process (local mode, the run
``deployed.json`` names). ``read_outcome`` reads the record from the store (``monitoring/<id>/manifest.json``, then
``drift.json``) and logs what moved; on drift ``request_retrain`` (when the form's ``retrain_on_drift`` is on) emits
the ``sentiment_pipeline_retrain`` asset event, then ``alert`` fails the run with the first sentence of the report.
Too few captured answers (under ``min_texts``) fail ``monitor`` with the reason. See docs/airflow.md.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from airflow.providers.amazon.aws.operators.ecs import EcsRunTaskOperator
from airflow.sdk import DAG, Param, chain, task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from sentiment_pipeline.deploy import dag_tasks
from sentiment_pipeline.deploy import orchestration as orch
from sentiment_pipeline.deploy.airflow_assets import RETRAIN_ASSET

DAG_ID = "sentiment_monitoring"
MODE = orch.pipeline_mode()
AWS_CONN_ID = "aws_default"
PROJECT_DIR = Path(os.environ.get("SENTIMENT_PIPELINE_PROJECT_DIR") or Path(__file__).resolve().parents[1])
SCHEDULE = os.environ.get("SENTIMENT_MONITORING_SCHEDULE", "@daily") or None  # "" or "none": manual runs only
POLL_SECONDS = int(os.environ.get("SENTIMENT_PIPELINE_POLL_SECONDS", "15"))
MONITOR_TIMEOUT = timedelta(hours=1)
WINDOW = timedelta(days=1)  # when the run's data interval is empty
RETRIES = int(os.environ.get("SENTIMENT_PIPELINE_RETRIES", "1"))

PARAMS = {
    "retrain_on_drift": Param(
        False,
        type="boolean",
        title="Retrain on drift",
        description="On drift, emit the sentiment_pipeline_retrain asset event before failing (sentiment_training "
        "runs on it when SENTIMENT_PIPELINE_RETRAIN_ON_DRIFT is set).",
    ),
}


@task(multiple_outputs=True)
def resolve_monitor(
    run_id: str | None = None, data_interval_start: datetime | None = None, data_interval_end: datetime | None = None
) -> dict:
    """Find the store, the captures and the served run; compose the monitor's command over the run's window."""
    since, until = orch.monitor_window(data_interval_start, data_interval_end, datetime.now(UTC), WINDOW)
    return dag_tasks.resolve_monitor_config(
        MODE, str(run_id), since.isoformat(), until.isoformat(), PROJECT_DIR, AWS_CONN_ID
    )


@task(task_id="monitor", execution_timeout=MONITOR_TIMEOUT)
def monitor_locally(config: dict) -> dict:
    """Run ``sentiment-pipeline monitor`` as a local process (local mode)."""
    return dag_tasks.run_monitor_locally(config)


@task
def read_outcome(config: dict) -> dict:
    """Read the monitor's record from the store and log what moved."""
    return dag_tasks.read_monitoring_outcome(config, AWS_CONN_ID)


@task(outlets=[RETRAIN_ASSET])
def request_retrain(outcome: dict, params: dict | None = None) -> str:
    """On drift with the form's ``retrain_on_drift`` on: the asset event that triggers training; else skipped."""
    if not outcome["drift"]:
        raise AirflowSkipException("no drift")
    if not (params or {}).get("retrain_on_drift"):
        raise AirflowSkipException("retrain_on_drift is off")
    return f"retrain requested: {dag_tasks.drift_alert(outcome)}"


@task(trigger_rule="none_failed")
def alert(outcome: dict) -> dict:
    """Fail the run, visibly and with the reason, when the monitor found drift."""
    message = dag_tasks.drift_alert(outcome)
    if message:
        raise AirflowFailException(message)
    return outcome


with DAG(
    dag_id=DAG_ID,
    description="Check the served sentiment model's captured answers for drift (sentiment-pipeline monitor)",
    schedule=SCHEDULE if SCHEDULE not in ("none", "None") else None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    params=PARAMS,
    default_args={"retries": RETRIES, "retry_delay": timedelta(minutes=1)},
    doc_md=__doc__,
    tags=["ml", "sentiment", "monitoring", MODE],
) as dag:
    config = resolve_monitor()
    if MODE == "ecs":
        # the training DAG's Fargate pattern; not retried: `monitor` refuses the record id an attempt already used
        monitor = EcsRunTaskOperator(
            task_id="monitor",
            overrides=config["monitor_overrides"],
            retries=0,
            **orch.fargate_arguments(
                config, "monitor", MONITOR_TIMEOUT, poll_seconds=POLL_SECONDS, aws_conn_id=AWS_CONN_ID
            ),
        )
    else:
        monitor = monitor_locally(config)
    outcome = read_outcome(config)
    chain(config, monitor, outcome, request_retrain(outcome), alert(outcome))
