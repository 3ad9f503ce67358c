"""Sweep training parameters: every point of a grid trained as a task of its own, then ranked on the same texts.

The form takes the grid as JSON (``{"lstm_units": [16, 32]}``), the parameters every point shares
(``{"epochs": 1, "ensemble_size": 1}``), the data and an optional evaluation file. ``resolve_sweep`` checks every
point against the parameter table before anything starts (the sweep's id is the DAG run's; its points are the
runs ``<sweep id>-p01``, ``-p02``, ...); ``each_point`` lists them. ``point`` is mapped over the points: in ECS
mode one Fargate task of the training image each (Fargate Spot if the form asks), at most MAX_POINTS_AT_ONCE at
once; in local mode one process each. A retried point runs its run id again, as ``train`` does. ``rank`` then runs
``sentiment-pipeline sweep --rank-only`` (a Fargate task, or a process) even if points failed: it scores the points
that succeeded on the same texts and writes ``sweeps/<sweep id>/sweep.json`` and its report. ``outcome`` reads that
document and fails the run, with the reason, when a point failed. With the form's ``promote_best`` on,
``resolve_best`` then composes the best point's configuration and the point goes the way ``sentiment_training``'s
runs go (``deploy/airflow_release.py``): ``plan_gate``, ``evaluate``, ``quality_gate`` against the deployed model on
the same texts, ``package``, (``build_image``,) ``deploy``, ``smoke_test``. See docs/airflow.md.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

from airflow.providers.amazon.aws.operators.ecs import EcsRunTaskOperator
from airflow.sdk import DAG, Param, chain, task

from sentiment_pipeline.deploy import dag_tasks
from sentiment_pipeline.deploy import orchestration as orch
from sentiment_pipeline.deploy.airflow_release import gate_and_deploy, gate_params

DAG_ID = "sentiment_sweep"
MODE = orch.pipeline_mode()
AWS_CONN_ID = "aws_default"
PROJECT_DIR = Path(os.environ.get("SENTIMENT_PIPELINE_PROJECT_DIR") or Path(__file__).resolve().parents[1])
POLL_SECONDS = int(os.environ.get("SENTIMENT_PIPELINE_POLL_SECONDS", "15"))
# Points trained at once: Fargate tasks in ECS mode (each its own 2 vCPU), processes in local mode.
MAX_POINTS_AT_ONCE = int(os.environ.get("SENTIMENT_SWEEP_MAX_PARALLEL", "8" if MODE == "ecs" else "1"))
POINT_TIMEOUT = timedelta(hours=3)
RANK_TIMEOUT = timedelta(hours=1)
RETRIES = int(os.environ.get("SENTIMENT_PIPELINE_RETRIES", "1"))
RETRY_DELAY = timedelta(minutes=3)  # longer than a run's lease on its id: a retry takes over a point that died

PARAMS = {
    "grid": Param(
        {"lstm_units": [16, 32]},
        type="object",
        title="Grid",
        description="Each swept parameter and its values (JSON); the points are every combination, at most 64. "
        "split_seed, val_size and test_size cannot be swept: the points share their split.",
    ),
    "params": Param(
        {"epochs": 1, "ensemble_size": 1},
        type="object",
        title="Fixed parameters",
        description="Parameters every point uses (JSON), as `-p key=value` of `sentiment-pipeline run`.",
    ),
    "data_uri": Param(
        None,
        type=["null", "string"],  # optional: the UI's trigger form requires a field whose type has no null
        title="Dataset URI",
        description="Labelled CSV/Parquet. Empty: $SENTIMENT_PIPELINE_DATA, else the Variable's data_uri, else "
        "(local mode) data/sample.csv.",
    ),
    "eval_data_uri": Param(
        None,
        type=["null", "string"],
        title="Evaluation set URI",
        description="Rank the points on this labelled file instead of their shared test split. Empty: "
        "$SENTIMENT_PIPELINE_EVAL_DATA, else the Variable's eval_data_uri, else none.",
    ),
    "fargate_spot": Param(
        False,
        type="boolean",
        title="Fargate Spot",
        description="ECS mode: run the points on Fargate Spot (cheaper; a point ECS takes back fails and is retried).",
    ),
    "promote_best": Param(
        False,
        type="boolean",
        title="Promote the best point",
        description="When every point succeeded, put the best one through sentiment_training's quality gate and, "
        "if it passes, package and deploy it.",
    ),
    **gate_params(),
}


@task(multiple_outputs=True)
def resolve_sweep(params: dict | None = None, run_id: str | None = None) -> dict:
    """Check every point of the form's grid and compose each point's command and the ranking's."""
    return dag_tasks.resolve_sweep_config(MODE, dict(params or {}), str(run_id), PROJECT_DIR, AWS_CONN_ID)


@task
def each_point(config: dict) -> list:
    """One entry per point, what its mapped task takes: container overrides (ECS) or a command (local)."""
    return config["point_overrides"] if MODE == "ecs" else config["point_commands"]


@task(task_id="point", max_active_tis_per_dagrun=MAX_POINTS_AT_ONCE, execution_timeout=POINT_TIMEOUT)
def run_point_locally(command: list[str]) -> dict:
    """Train one point: ``sentiment-pipeline run`` as a local process (local mode)."""
    return dag_tasks.run_local_command(command)


@task(task_id="rank", trigger_rule="all_done", execution_timeout=RANK_TIMEOUT)
def rank_locally(config: dict) -> None:
    """Rank the points that succeeded (local mode); sweep.json is written even when points failed."""
    dag_tasks.run_local_command(config["rank_command"])


@task(trigger_rule="all_done")
def outcome(config: dict) -> dict:
    """Read sweep.json: the best point, or fail with which points failed."""
    return dag_tasks.read_sweep_outcome(config, AWS_CONN_ID)


@task.short_circuit
def promote_best(params: dict | None = None) -> bool:
    """Go on to the gate only if the form asks for it."""
    return bool((params or {}).get("promote_best"))


@task(multiple_outputs=True)
def resolve_best(result: dict, params: dict | None = None) -> dict:
    """The best point's configuration, as ``sentiment_training``'s ``resolve_config`` composes it for a run."""
    return dag_tasks.resolve_best_point_config(MODE, dict(params or {}), result, PROJECT_DIR, AWS_CONN_ID)


def fargate(config, timeout: timedelta) -> dict:
    """The training task definition as every DAG's Fargate task runs it, on Fargate Spot if the form asked."""
    arguments = orch.fargate_arguments(config, "training", timeout, poll_seconds=POLL_SECONDS, aws_conn_id=AWS_CONN_ID)
    return {
        **arguments,
        "launch_type": config["launch_type"],
        "capacity_provider_strategy": config["capacity_provider_strategy"],
    }


with DAG(
    dag_id=DAG_ID,
    description="Sweep training parameters: one task per grid point, then a ranking on the same texts",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    params=PARAMS,
    default_args={"retries": RETRIES, "retry_delay": RETRY_DELAY},
    doc_md=__doc__,
    tags=["ml", "sentiment", "sweep", MODE],
) as dag:
    config = resolve_sweep()
    if MODE == "ecs":
        points = EcsRunTaskOperator.partial(
            task_id="point", max_active_tis_per_dagrun=MAX_POINTS_AT_ONCE, **fargate(config, POINT_TIMEOUT)
        ).expand(overrides=each_point(config))
        rank = EcsRunTaskOperator(
            task_id="rank", overrides=config["rank_overrides"], trigger_rule="all_done", **fargate(config, RANK_TIMEOUT)
        )
    else:
        points = run_point_locally.expand(command=each_point(config))
        rank = rank_locally(config)
    result = outcome(config)
    chain(config, points, rank, result)
    best = resolve_best(result)
    release = gate_and_deploy(best, MODE, aws_conn_id=AWS_CONN_ID, poll_seconds=POLL_SECONDS, project_dir=PROJECT_DIR)
    chain(result, promote_best(), best, *release)
