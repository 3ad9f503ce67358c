"""ECS mode end to end against moto, through the real images: the real EcsRunTaskOperator, S3, CloudWatch Logs,
the training image run as Terraform's task definition, the bento image built from the uploaded context, the ECS
service rolled to it and called over HTTP.

moto runs in this process (``ThreadedMotoServer``) so the test agents (ecs_agent.py) can act as Fargate and as the
ECS service; Airflow runs as ``airflow dags test`` in a subprocess and reaches moto over HTTP through its connection.
The "load balancer" is a loopback port where the service agent publishes the container of the service's *current*
task definition, so the smoke test passes only if the roll-out did and the new image answers.
"""

from __future__ import annotations

import hashlib
import json
import subprocess

import boto3
import pytest

from sentiment_pipeline.deploy import orchestration as orch
from sentiment_pipeline.params import FORM_PARAMETERS
from support.airflow_harness import RELEASE_TASKS, dags_test
from support.containers import (
    build_project_images,
    engine_cli,
    image_config,
    remove_test_containers,
    training_task_definition,
)
from support.ecs_agent import EcsAgent, ServiceAgent
from support.project import BIN, TINY, free_port

pytestmark = pytest.mark.slow

REGION = "us-east-1"
CLUSTER = "sentiment"
SERVICE = "sentiment-inference"
LOG_GROUP = "/ecs/sentiment-pipeline"
ECS_TASKS = ("train", "evaluate", "package", "build_image")
DEPLOY_TASKS = ("package", "build_image", "deploy", "smoke_test")
TRAINING_IMAGE = "sentiment-training:latest"


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    """moto in this process, ECS tasks pinned to RUNNING until the agent stops them, services report running."""
    from moto.moto_api import state_manager
    from moto.server import ThreadedMotoServer

    port = free_port()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MOTO_ECS_SERVICE_RUNNING", "1")  # read by moto's Service model in this process
        for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
            mp.setenv(key, value)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        state_manager.set_transition(model_name="ecs::task", transition={"progression": "manual", "times": 10**9})
        try:
            yield {
                "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": REGION,
            }
        finally:
            state_manager.unset_transition(model_name="ecs::task")
            server.stop()


@pytest.fixture(scope="module")
def aws(moto, tmp_path_factory):
    """The infrastructure terraform would create, in moto; returns the Variable and handy clients."""
    kwargs = {"region_name": REGION, "endpoint_url": moto["AWS_ENDPOINT_URL"]}
    s3, ec2, ecs, logs, ecr = (boto3.client(n, **kwargs) for n in ("s3", "ec2", "ecs", "logs", "ecr"))
    s3.create_bucket(Bucket="tweets-data")
    s3.create_bucket(Bucket="tweets-artifacts")
    sample = tmp_path_factory.mktemp("data") / "sample.csv"
    subprocess.run([str(BIN / "sentiment-pipeline"), "sample", "--out", str(sample)], check=True, capture_output=True)
    s3.upload_file(str(sample), "tweets-data", "incoming/tweets.csv")

    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="tasks", Description="pipeline tasks", VpcId=vpc)["GroupId"]
    logs.create_log_group(logGroupName=LOG_GROUP)
    repository = ecr.create_repository(repositoryName="tweet-sentiment")["repository"]["repositoryUri"]
    ecs.create_cluster(clusterName=CLUSTER)

    def register(family: str, container: str, image: str, prefix: str, volumes=(), **extra) -> None:
        ecs.register_task_definition(
            family=family,
            volumes=list(volumes),
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu="1024",
            memory="4096",
            containerDefinitions=[
                {
                    "name": container,
                    "image": image,
                    "memory": 4096,
                    "essential": True,
                    "logConfiguration": {
                        "logDriver": "awslogs",
                        "options": {
                            "awslogs-group": LOG_GROUP,
                            "awslogs-region": REGION,
                            "awslogs-stream-prefix": prefix,
                        },
                    },
                    **extra,
                }
            ],
        )

    store_uri = "s3://tweets-artifacts/pipeline"
    training = training_task_definition(  # terraform/training.tf's definition, with the local training image
        TRAINING_IMAGE,
        {
            "local.data_uri": "s3://tweets-data/incoming/tweets.csv",
            "local.store_uri": store_uri,
            "local.region": REGION,
        },
    )
    [container] = training["containerDefinitions"]
    register(
        "sentiment-training",
        "training",
        TRAINING_IMAGE,
        "training",
        volumes=training["volumes"],
        **{k: container[k] for k in ("user", "readonlyRootFilesystem", "mountPoints", "environment")},
    )
    register("sentiment-image-builder", "kaniko", "gcr.io/kaniko-project/executor:v1.23.2", "image-builder")
    register(
        "sentiment-inference",
        "bento",
        f"{repository}:initial",
        "inference",
        portMappings=[{"containerPort": 3000}],
        # SENTIMENT_CAPTURE_TEXT: a setting Terraform has since dropped (the Variable's capture environment lacks it)
        environment=[{"name": "BENTOML_PORT", "value": "3000"}, {"name": "SENTIMENT_CAPTURE_TEXT", "value": "hash"}],
    )
    ecs.create_service(
        cluster=CLUSTER,
        serviceName=SERVICE,
        taskDefinition="sentiment-inference",
        desiredCount=1,
        launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [group]}},
    )

    balancer_port = free_port()
    variable = {
        "region": REGION,
        "cluster": CLUSTER,
        "training_task_definition": "sentiment-training",
        "training_container": "training",
        "image_builder_task_definition": "sentiment-image-builder",
        "image_builder_container": "kaniko",
        "subnets": [subnet],
        "security_groups": [group],
        "log_group": LOG_GROUP,
        "training_log_stream_prefix": "training",
        "image_builder_log_stream_prefix": "image-builder",
        "data_uri": "s3://tweets-data/incoming/tweets.csv",
        "store_uri": store_uri,
        "bento_repository_url": repository,
        "inference_cluster": CLUSTER,
        "inference_service": SERVICE,
        "inference_task_family": "sentiment-inference",
        "inference_container": "bento",
        "endpoint_url": f"http://127.0.0.1:{balancer_port}",
        "captures_uri": "s3://tweets-artifacts/captures",  # what the service captures: the monitoring DAG reads it
        # No SENTIMENT_CAPTURE_URI: the stand-in service does not capture; the deploy still carries these over.
        "inference_capture_environment": {"AWS_REGION": REGION, "SENTIMENT_CAPTURE_RATE": "0.5"},
    }
    with ServiceAgent(ecs, CLUSTER, SERVICE, balancer_port) as service:
        yield {"variable": variable, "s3": s3, "ecs": ecs, "logs": logs, "repository": repository, "service": service}


@pytest.fixture(scope="module")
def ecs_env(airflow_env, moto, aws, tmp_path_factory) -> dict[str, str]:
    """Airflow in ECS mode: the Variable from 'terraform outputs', an AWS connection whose endpoint is moto."""
    connection = {
        "conn_type": "aws",
        "login": "testing",
        "password": "testing",
        "extra": {"endpoint_url": moto["AWS_ENDPOINT_URL"], "region_name": REGION},
    }
    return {
        **airflow_env,
        **moto,
        "SENTIMENT_PIPELINE_MODE": "ecs",
        "SENTIMENT_PIPELINE_POLL_SECONDS": "1",
        "AIRFLOW_VAR_SENTIMENT_PIPELINE": json.dumps(aws["variable"]),
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(connection),
    }


@pytest.fixture(scope="module")
def agent(moto):
    """Fargate: runs the tasks as containers of the training image (built, or found cached, first)."""
    build_project_images("training")
    aws = {k: moto[k] for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    with EcsAgent(REGION, aws) as running:
        yield running
    remove_test_containers()


def _revisions(ecs) -> list[str]:
    return ecs.list_task_definitions(familyPrefix="sentiment-inference", sort="ASC")["taskDefinitionArns"]


def _s3_json(s3, key: str) -> dict:
    return json.loads(s3.get_object(Bucket="tweets-artifacts", Key=f"pipeline/{key}")["Body"].read())


def test_ecs_mode_trains_on_fargate_gates_builds_and_rolls_the_service(ecs_env, aws, agent):
    s3, ecs = aws["s3"], aws["ecs"]
    before = _revisions(ecs)
    launched = len(agent.launches)

    result = dags_test(ecs_env, {**TINY, "min_macro_f1": 0.0})

    assert result.returncode == 0 and result.state == "success", result.output[-8000:] + aws["service"].logs()
    assert set(result.task_states.values()) == {"success"} and len(result.task_states) == 9
    run_id = result.run_id
    train, evaluate, package, build = agent.launches[launched:]
    # the training container ran exactly the pipeline CLI with the Airflow run id and the form's parameters
    assert train.container == "training" and train.command[:8] == [
        "sentiment-pipeline",
        "run",
        "--data",
        "s3://tweets-data/incoming/tweets.csv",
        "--store",
        "s3://tweets-artifacts/pipeline",
        "--run-id",
        run_id,
    ]
    assert set(train.command[8::2]) == {"-p"}
    passed = dict(pair.split("=", 1) for pair in train.command[9::2])
    assert set(passed) == set(FORM_PARAMETERS)  # every form field, defaults included
    assert {k: passed[k] for k in TINY} == {k: str(v) for k, v in TINY.items()}
    assert train.environment["AIRFLOW_DAG_RUN_ID"] == run_id and train.exit_code == 0
    # ... as a container of the training image, run as the task definition says (Terraform's settings)
    assert train.image == TRAINING_IMAGE
    options = " ".join(train.run_args)
    assert "--user 10001:10001" in options and "--read-only " in options and "--tmpfs /tmp:" in options
    # the gate's evaluation ran in the training image too (it loads models); nothing was deployed yet
    assert evaluate.command == orch.gate_command("s3://tweets-artifacts/pipeline", run_id, None, 0.0, 0.005)
    assert evaluate.image == TRAINING_IMAGE and evaluate.exit_code == 0
    gate = _s3_json(s3, f"runs/{run_id}/gate.json")
    assert gate["decision"] == "promote" and gate["deployed"] is None
    assert "quality gate PROMOTE" in result.output
    assert package.command == orch.package_command("s3://tweets-artifacts/pipeline", run_id)
    assert package.image == TRAINING_IMAGE and package.exit_code == 0
    image = orch.image_uri(aws["repository"], run_id)
    assert build.container == "kaniko" and build.exit_code == 0
    assert build.command == orch.kaniko_command(orch.context_uri("s3://tweets-artifacts/pipeline", run_id), image)
    assert engine_cli("image", "inspect", image, check=False).returncode == 0  # built from the context in S3

    # the run landed in (moto) S3, complete, and the container's output streamed into the Airflow task log
    manifest = _s3_json(s3, f"runs/{run_id}/manifest.json")
    assert manifest["status"] == "succeeded"
    names = {f["path"] for f in manifest["files"]}
    assert {"notebooks/train.ipynb", "reports/train.html", "model/model.keras", "metrics.json"} <= names
    for entry in manifest["files"]:  # every file the manifest lists is in S3, byte for byte
        body = s3.get_object(Bucket="tweets-artifacts", Key=f"pipeline/runs/{run_id}/{entry['path']}")["Body"].read()
        assert hashlib.sha256(body).hexdigest() == entry["sha256"], entry["path"]
    assert manifest["git"]["commit"] == image_config(TRAINING_IMAGE)["Labels"]["org.opencontainers.image.revision"]
    assert _s3_json(s3, f"runs/{run_id}/params.json")["data"]["uri"] == "s3://tweets-data/incoming/tweets.csv"
    assert _s3_json(s3, "latest.json")["run_id"] == run_id
    assert s3.head_object(Bucket="tweets-artifacts", Key=f"pipeline/runs/{run_id}/bento/context.tar.gz")
    assert '"baseline_macro_f1"' in result.output  # the CLI's last line, read from CloudWatch by the operator
    assert f"built {image} (podman" in result.output  # the builder's log, streamed into the task log

    # a new inference task definition revision with the new image, and the service rolled to it
    after = _revisions(ecs)
    assert len(after) == len(before) + 1
    definition = ecs.describe_task_definition(taskDefinition=after[-1])["taskDefinition"]
    [container] = definition["containerDefinitions"]
    env = {e["name"]: e["value"] for e in container["environment"]}
    assert container["image"] == image and env["SENTIMENT_MODEL_TAG"] == orch.model_tag(run_id)
    assert env[orch.RUN_ID_ENV] == run_id  # how the next quality gate knows what is deployed
    assert env["BENTOML_PORT"] == "3000" and container["portMappings"][0]["containerPort"] == 3000  # copied
    assert env["AWS_REGION"] == REGION and env["SENTIMENT_CAPTURE_RATE"] == "0.5"  # Terraform's capture settings
    assert "SENTIMENT_CAPTURE_TEXT" not in env  # ... and only those: the running revision's stale one is dropped
    service = ecs.describe_services(cluster=CLUSTER, services=[SERVICE])["services"][0]
    assert service["taskDefinition"] == after[-1]
    # the new image answered the smoke test as the service's running task, naming the new model
    started = aws["service"].started[-1]
    assert started["revision"] == after[-1] and started["image"] == image
    assert "smoke test passed" in result.output and f"'model': '{orch.model_tag(run_id)}'" in result.output


def test_a_failing_training_command_fails_the_run_with_the_containers_last_lines(ecs_env, aws, agent):
    launched = len(agent.launches)
    result = dags_test(ecs_env, {**TINY, "data_uri": "s3://tweets-data/incoming/missing.csv"})

    assert result.returncode != 0 and result.state == "failed"
    assert result.task_states["train"] == "failed"
    assert result.task_states["quality_gate"] == "upstream_failed"
    [train] = agent.launches[launched:]
    assert train.exit_code == 2  # the CLI's "bad input" exit code, passed through the container
    # bad input is one `error:` line in the container's log, never a traceback
    assert len([line for line in train.output if line.startswith("error:")]) == 1, train.output[-20:]
    assert not any("Traceback" in line for line in train.output)
    # the task's exception carries the container's last log lines, read back from CloudWatch
    message = result.output.split("This task is not in success state - last 20 logs from Cloudwatch:", 1)[1]
    assert (
        "error: run " in message and "failed in data: s3://tweets-data/incoming/missing.csv does not exist" in message
    )
    assert _s3_json(aws["s3"], f"runs/{result.run_id}/manifest.json")["status"] == "failed"


def test_the_gate_evaluates_against_the_run_the_ecs_service_serves(ecs_env, aws, monkeypatch):
    """What is deployed comes from ECS (the service's revision names its run, read through EcsHook); the evaluation
    container gets it on its command line; quality_gate follows the decision that container wrote to S3."""
    from sentiment_pipeline.deploy import dag_tasks

    for key in ("AIRFLOW_CONN_AWS_DEFAULT", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AIRFLOW_HOME"):
        monkeypatch.setenv(key, ecs_env[key])
    s3, ecs = aws["s3"], aws["ecs"]
    current = ecs.describe_services(cluster=CLUSTER, services=[SERVICE])["services"][0]["taskDefinition"]
    definition = ecs.describe_task_definition(taskDefinition=current)["taskDefinition"]
    revision = orch.task_definition_revision(definition, "bento", "repo:champion", {orch.RUN_ID_ENV: "champion"})
    arn = ecs.register_task_definition(**revision)["taskDefinition"]["taskDefinitionArn"]
    ecs.update_service(cluster=CLUSTER, service=SERVICE, taskDefinition=arn)
    store = "s3://tweets-artifacts/pipeline"
    config = {  # what resolve_config composes in ECS mode, for the keys the gate's tasks read
        **aws["variable"],
        "mode": "ecs",
        "run_id": "challenger",
        "eval_data_uri": "s3://tweets-data/eval.csv",
        "gate_container": "training",
        "gate_environment": {"SENTIMENT_PIPELINE_STORE": store},
    }

    plan = dag_tasks.plan_gate(config, 0.7, 0.01, "aws_default")

    assert plan["deployed_run_id"] == "champion"
    [container] = plan["overrides"]["containerOverrides"]
    assert container["name"] == "training"
    assert container["command"] == orch.gate_command(
        store, "challenger", "champion", 0.7, 0.01, "s3://tweets-data/eval.csv"
    )
    assert container["environment"] == [{"name": "SENTIMENT_PIPELINE_STORE", "value": store}]
    for decision in ("hold", "promote"):
        body = {
            "run_id": "challenger",
            "decision": decision,
            "promote": decision == "promote",
            "reason": f"the container said {decision}",
            "threshold": 0.7,
            "margin": 0.01,
            "candidate": {"run_id": "challenger", "macro_f1": 0.75, "scored_on": "eval_data"},
            "deployed": {"run_id": "champion", "macro_f1": 0.76},
            "interval": {"delta": -0.01, "low": -0.03, "high": 0.01},
        }
        s3.put_object(Bucket="tweets-artifacts", Key="pipeline/runs/challenger/gate.json", Body=json.dumps(body))
        assert dag_tasks.quality_gate(config, "aws_default") is (decision == "promote")
    with pytest.raises(orch.ConfigError, match="did not record a decision"):
        dag_tasks.quality_gate({**config, "run_id": "never-evaluated"}, "aws_default")


def test_ecs_mode_monitors_the_served_runs_captures_as_a_fargate_task_and_alerts_on_drift(
    ecs_env, aws, agent, sample_run
):
    """sentiment_monitoring in ECS mode: the run the service's revision names, its captured answers in S3, the
    monitor as a container of the training image (Terraform's training task definition), its record read back."""
    from sentiment_pipeline.records.store import S3Store
    from support.project import SAMPLE_RUN_ID
    from support.records import capture_segment, unlike_tweets

    s3, ecs = aws["s3"], aws["ecs"]
    for path in (sample_run / "runs" / SAMPLE_RUN_ID).rglob("*"):  # the served run's record, in the ECS store
        if path.is_file():
            s3.upload_file(str(path), "tweets-artifacts", f"pipeline/{path.relative_to(sample_run).as_posix()}")
    current = ecs.describe_services(cluster=CLUSTER, services=[SERVICE])["services"][0]["taskDefinition"]
    definition = ecs.describe_task_definition(taskDefinition=current)["taskDefinition"]
    revision = orch.task_definition_revision(definition, "bento", "repo:monitored", {orch.RUN_ID_ENV: SAMPLE_RUN_ID})
    arn = ecs.register_task_definition(**revision)["taskDefinition"]["taskDefinitionArn"]
    ecs.update_service(cluster=CLUSTER, service=SERVICE, taskDefinition=arn)  # the service now serves that run
    # 150 answers of the last day, of texts of no kind the model trained on, all "negative": drift
    captured = S3Store(aws["variable"]["captures_uri"], client=s3)
    capture_segment(SAMPLE_RUN_ID, unlike_tweets(150), ["negative"] * 150, captured)
    launched = len(agent.launches)

    result = dags_test(ecs_env, {}, dag_id="sentiment_monitoring")

    assert result.state == "failed", result.output[-8000:]
    assert result.task_states == {
        "resolve_monitor": "success",
        "monitor": "success",
        "read_outcome": "success",
        "request_retrain": "skipped",  # the form's retrain_on_drift is off
        "alert": "failed",
    }, result.output[-8000:]
    [monitor] = agent.launches[launched:]
    assert monitor.container == "training" and monitor.exit_code == 0
    assert monitor.command[:8] == [
        "sentiment-pipeline", "monitor", "--store", "s3://tweets-artifacts/pipeline",
        "--captures", "s3://tweets-artifacts/captures", "--run-id", SAMPLE_RUN_ID,
    ]  # fmt: skip
    written = _s3_json(s3, f"monitoring/{result.run_id}/manifest.json")
    assert written["status"] == "succeeded" and written["drift"] is True and written["captures"]["n"] == 150
    assert f"drift in run {SAMPLE_RUN_ID}'s captured answers:" in result.output


def test_ecs_mode_sweeps_two_points_as_fargate_tasks_and_ranks_them_in_a_third(ecs_env, aws, agent):
    """sentiment_sweep in ECS mode: one Fargate task of the training image per point (the mapped operator), then
    the ranking as a task of its own; the records and sweep.json land in the S3 store. (The best point's way to the
    endpoint is sentiment_training's, tested in local mode in test_dag_sweep.py and in ECS mode above.)"""
    s3 = aws["s3"]
    launched = len(agent.launches)
    fixed = {k: v for k, v in TINY.items() if k != "lstm_units"}

    result = dags_test(ecs_env, {"grid": {"lstm_units": [4, 8]}, "params": fixed}, dag_id="sentiment_sweep")

    assert result.state == "success", result.output[-8000:]
    swept = ("resolve_sweep", "each_point", "point", "rank", "outcome", "promote_best")
    release = ("resolve_best", *RELEASE_TASKS["ecs"])
    # the form did not ask to promote the best point: its gate-and-deploy tasks are skipped, nothing else ran
    assert result.task_states == {**dict.fromkeys(swept, "success"), **dict.fromkeys(release, "skipped")}
    sweep_id = result.run_id
    launches = agent.launches[launched:]
    points, [rank] = launches[:2], launches[2:]
    assert sorted(launch.command[7] for launch in points) == [f"{sweep_id}-p01", f"{sweep_id}-p02"]  # --run-id
    assert all(launch.container == "training" and launch.exit_code == 0 for launch in launches)
    assert all(
        launch.command[:2] == ["sentiment-pipeline", "run"] and "--sweep-id" in launch.command for launch in points
    )
    assert rank.command[:2] == ["sentiment-pipeline", "sweep"] and "--rank-only" in rank.command
    document = _s3_json(s3, f"sweeps/{sweep_id}/sweep.json")
    assert document["status"] == "succeeded" and [p["params"] for p in document["points"]] == [
        {"lstm_units": 4},
        {"lstm_units": 8},
    ]
    assert document["best"] in {f"{sweep_id}-p01", f"{sweep_id}-p02"} and document["texts"]["n"] > 0
    assert _s3_json(s3, f"runs/{sweep_id}-p02/params.json")["sweep"] == sweep_id
    assert s3.head_object(Bucket="tweets-artifacts", Key=f"pipeline/sweeps/{sweep_id}/sweep.html")
    assert f"best {document['best']}" in result.output
