"""The path from a trained run to the endpoint, as Airflow tasks: gate, package, (build the image,) deploy, smoke test.

``sentiment_training`` puts it after ``train``; ``sentiment_sweep`` after its ranking, on the best point, when the
form asks. One definition, so a model reaches the endpoint the same way whichever DAG trained it: ``plan_gate`` asks
what is deployed, ``evaluate`` runs ``sentiment-pipeline gate`` (candidate and deployed model on the same texts),
``quality_gate`` stops here unless that promoted the run, then ``package`` (model registered, bento built; its build
context on S3 in ECS mode), ``build_image`` (Kaniko as a Fargate task, ECS mode), ``deploy`` (roll the ECS service, or
record the bento as deployed) and ``smoke_test``.

The tasks read the run from ``config`` (what ``dag_tasks.resolve_run_config`` composes for a run id) and the
threshold and margin from the DAG's form (``gate_params``). Like every module of ``deploy``, nothing of Airflow is
imported at module level: the DAG files call these functions at parse time.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from ..params import GATE_MARGIN
from . import dag_tasks
from . import orchestration as orch

BUILD_TIMEOUT = timedelta(hours=1)
EVALUATE_TIMEOUT = timedelta(minutes=30)
DEPLOY_TIMEOUT = timedelta(minutes=30)
SMOKE_TEST_TIMEOUT = timedelta(minutes=10)


def gate_params() -> dict[str, Any]:
    """The form's quality threshold and gate margin, which ``plan_gate`` reads."""
    from airflow.sdk import Param

    return {
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
    }


def fargate_task(
    task_id: str,
    config: Any,
    prefix: str,
    timeout: timedelta,
    *,
    aws_conn_id: str,
    poll_seconds: int,
    overrides: Any | None = None,
) -> Any:
    """A Fargate task of the pipeline's cluster (``config[prefix + "_overrides"]`` unless ``overrides``) whose log
    stream is forwarded into the Airflow task log."""
    from airflow.providers.amazon.aws.operators.ecs import EcsRunTaskOperator

    return EcsRunTaskOperator(
        task_id=task_id,
        overrides=overrides if overrides is not None else config[f"{prefix}_overrides"],
        **orch.fargate_arguments(config, prefix, timeout, poll_seconds=poll_seconds, aws_conn_id=aws_conn_id),
    )


def gate_and_deploy(config: Any, mode: str, *, aws_conn_id: str, poll_seconds: int, project_dir: Path) -> list[Any]:
    """The tasks from ``plan_gate`` to ``smoke_test`` for the run ``config`` names, in order (chain them after the
    task that trained it)."""
    from airflow.sdk import task

    @task(multiple_outputs=True)
    def plan_gate(config: dict, params: dict | None = None) -> dict:
        """Find the deployed run (ECS: the service's task definition) and compose the gate's command."""
        form = params or {}
        return dag_tasks.plan_gate(config, float(form["min_macro_f1"]), float(form["gate_margin"]), aws_conn_id)

    @task(task_id="evaluate", execution_timeout=EVALUATE_TIMEOUT)
    def evaluate_locally(plan: dict) -> dict:
        """Score the candidate and the deployed model on the same texts and record the decision (local mode)."""
        return dag_tasks.run_local_command(plan["command"])

    @task.short_circuit
    def quality_gate(config: dict) -> bool:
        """Continue to deploy only if the evaluation promoted the run: threshold reached, and not worse than
        deployed."""
        return dag_tasks.quality_gate(config, aws_conn_id)

    @task(task_id="package", execution_timeout=BUILD_TIMEOUT)
    def package_locally(command: list[str]) -> dict:
        """Register the model and build the bento (local mode)."""
        return dag_tasks.run_local_command(command, cwd=project_dir)

    @task(execution_timeout=DEPLOY_TIMEOUT)
    def deploy(config: dict) -> dict:
        """Roll the ECS inference service to the new image and wait until it is stable (ECS mode)."""
        return dag_tasks.deploy_to_ecs(config, aws_conn_id, poll_seconds=poll_seconds, timeout=DEPLOY_TIMEOUT)

    @task(task_id="deploy")
    def deploy_locally(config: dict, packaged: dict) -> dict:
        """Record the new bento as the deployed model (local mode)."""
        return dag_tasks.record_local_deployment(config, packaged)

    @task(execution_timeout=SMOKE_TEST_TIMEOUT)
    def smoke_test(config: dict) -> dict:
        """Check /readyz and one /predict on the deployed endpoint (local mode: the bento holds the model)."""
        return dag_tasks.smoke_test(config)

    plan = plan_gate(config)
    if mode == "ecs":
        fargate = {"aws_conn_id": aws_conn_id, "poll_seconds": poll_seconds}
        evaluate = fargate_task("evaluate", config, "gate", EVALUATE_TIMEOUT, overrides=plan["overrides"], **fargate)
        package = fargate_task("package", config, "package", BUILD_TIMEOUT, **fargate)
        build_image = fargate_task("build_image", config, "image_builder", BUILD_TIMEOUT, **fargate)
        return [plan, evaluate, quality_gate(config), package, build_image, deploy(config), smoke_test(config)]
    evaluate = evaluate_locally(plan)
    package = package_locally(config["package_command"])
    return [plan, evaluate, quality_gate(config), package, deploy_locally(config, package), smoke_test(config)]
