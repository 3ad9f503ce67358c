"""The training image as Fargate runs it: Terraform's user, read-only root, /tmp scratch and environment, S3 on
loopback (moto server); the command the DAG passes."""

from __future__ import annotations

import hashlib
import json
import subprocess

import boto3
import pytest

from support.containers import (
    build_project_images,
    clean_env,
    engine,
    engine_cli,
    engine_env,
    image_config,
    remove_test_containers,
    run_options,
    training_task_definition,
)
from support.project import BIN

pytestmark = pytest.mark.slow

IMAGE = "sentiment-training:latest"
TINY = ["epochs=1", "ensemble_size=1", "embedding_dim=16", "lstm_units=8", "ngram_dim=8", "char_dim=8", "min_count=1"]


@pytest.fixture(scope="module")
def training_image():
    build_project_images("training")
    yield IMAGE
    remove_test_containers()


@pytest.fixture(scope="module")
def buckets(moto_server, tmp_path_factory):
    s3 = boto3.client(
        "s3",
        endpoint_url=moto_server["AWS_ENDPOINT_URL"],
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.create_bucket(Bucket="image-data")
    s3.create_bucket(Bucket="image-artifacts")
    sample = tmp_path_factory.mktemp("data") / "sample.csv"
    subprocess.run([str(BIN / "sentiment-pipeline"), "sample", "--out", str(sample)], check=True, capture_output=True)
    s3.upload_file(str(sample), "image-data", "tweets.csv")
    s3.put_object(Bucket="image-data", Key="no-labels.csv", Body=b"text,other\nhello,1\n")
    return s3


def fargate_run(moto_server, data_uri: str, run_id: str) -> subprocess.CompletedProcess:
    """``sentiment-pipeline run`` in the training image, started as training.tf's task definition starts it."""
    definition = training_task_definition(
        IMAGE,
        {
            "local.data_uri": data_uri,
            "local.store_uri": "s3://image-artifacts/pipeline",
            "local.region": moto_server["AWS_DEFAULT_REGION"],
        },
    )
    [container] = definition["containerDefinitions"]
    environment = {e["name"]: e["value"] for e in container["environment"]}
    # what the task role and the VPC endpoint give a Fargate task: credentials and the S3 endpoint
    environment |= {k: moto_server[k] for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    command = ["sentiment-pipeline", "run", "--run-id", run_id]
    for pair in TINY:
        command += ["-p", pair]
    options = run_options(definition, container, f"training-{run_id}", environment)
    return subprocess.run(
        [engine(), *options, IMAGE, *command],
        env={**clean_env(), **engine_env()},
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_the_image_runs_as_its_non_root_user_without_airflow(training_image):
    config = image_config(training_image)
    assert config["User"] == "10001:10001"
    assert config["Cmd"] == ["sentiment-pipeline", "--help"] and not config.get("Entrypoint")
    probe = "import importlib.util as u; print(u.find_spec('airflow') is None, u.find_spec('tensorflow') is not None)"
    result = engine_cli(
        "run",
        "--rm",
        "--label",
        "sentiment-pipeline-test=1",
        training_image,
        "sh",
        "-c",
        f'id -u; python -c "{probe}"; sentiment-pipeline --help | head -1',
    )
    uid, flags, usage = result.stdout.strip().splitlines()
    assert uid == "10001" and flags == "True True" and usage.startswith("usage: sentiment-pipeline")


def test_a_fargate_style_run_writes_a_complete_succeeded_record_to_s3(training_image, buckets, moto_server):
    result = fargate_run(moto_server, "s3://image-data/tweets.csv", "image-run")

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["run_id"] == "image-run"

    def get(key: str) -> bytes:
        return buckets.get_object(Bucket="image-artifacts", Key=f"pipeline/{key}")["Body"].read()

    manifest = json.loads(get("runs/image-run/manifest.json"))
    assert manifest["status"] == "succeeded"
    names = {f["path"] for f in manifest["files"]}
    assert {"notebooks/train.ipynb", "reports/train.html", "model/model.keras", "metrics.json"} <= names
    for entry in manifest["files"]:  # every file the manifest lists is in S3, byte for byte
        assert hashlib.sha256(get(f"runs/image-run/{entry['path']}")).hexdigest() == entry["sha256"], entry["path"]
    assert json.loads(get("latest.json"))["run_id"] == "image-run"
    params = json.loads(get("runs/image-run/params.json"))
    assert params["data"]["uri"] == "s3://image-data/tweets.csv"
    assert manifest["git"]["commit"] == image_config(training_image)["Labels"]["org.opencontainers.image.revision"]


def test_a_bad_dataset_exits_2_with_one_error_line_in_the_container_log(training_image, buckets, moto_server):
    result = fargate_run(moto_server, "s3://image-data/no-labels.csv", "image-bad")

    assert result.returncode == 2, result.stdout[-3000:] + result.stderr[-3000:]
    errors = [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "label" in errors[0], result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    listed = buckets.list_objects_v2(Bucket="image-artifacts", Prefix="pipeline/runs/image-bad/").get("Contents", [])
    assert not [o for o in listed if o["Key"].endswith("model/model.keras")]
