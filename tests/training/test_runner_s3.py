"""A full run with data and store on S3 (moto server on loopback, real HTTP), read back by evaluate.

Same data and split as the session's local run (finished_run), so the S3 run also checks that the data step does
not depend on the store: the same split bytes and the same baseline. (The smallest model: that a run reproduces
its model is tests/training/test_reproduction.py's.)"""

import json

import boto3
import nbformat
import pytest

from support.project import FAST, TINY, as_args, cli

pytestmark = pytest.mark.slow


def test_run_archived_to_s3_reproduces_the_local_run_and_is_evaluated_from_it(aws_env, labelled_csv, finished_run):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="tweets-data")
    s3.create_bucket(Bucket="tweets-artifacts")
    s3.upload_file(str(labelled_csv), "tweets-data", "incoming/tweets.csv")

    result = cli(
        "run",
        "--data",
        "s3://tweets-data/incoming/tweets.csv",
        "--store",
        "s3://tweets-artifacts/pipeline",
        "--run-id",
        "s3-run",
        *as_args(TINY),
        env=aws_env,
        check=True,
    )
    assert json.loads(result.stdout)["store"] == "s3://tweets-artifacts/pipeline"

    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="tweets-artifacts")["Contents"]}
    run = "pipeline/runs/s3-run/"
    for name in (
        "params.json",
        "manifest.json",
        "metrics.json",
        "notebooks/train.ipynb",
        "reports/train.html",
        "model/model.keras",
        "model/tokenizer.json",
        "model/labels.json",
    ):
        assert run + name in keys, name
    assert {"pipeline/latest.json", "pipeline/index.html"} <= keys

    def get(key):
        return s3.get_object(Bucket="tweets-artifacts", Key=key)["Body"].read()

    assert json.loads(get("pipeline/latest.json"))["run_id"] == "s3-run"
    assert json.loads(get(run + "params.json"))["data"]["uri"] == "s3://tweets-data/incoming/tweets.csv"
    manifest = json.loads(get(run + "manifest.json"))
    assert manifest["status"] == "succeeded"
    assert {f["path"] for f in manifest["files"]} >= {"notebooks/train.ipynb", "model/model.keras"}
    # papermill wrote the executed notebook straight to S3 through its own I/O handler
    assert any(
        "injected-parameters" in c.metadata.get("tags", [])
        for c in nbformat.reads(get(run + "notebooks/train.ipynb").decode(), as_version=4).cells
    )
    assert s3.head_object(Bucket="tweets-artifacts", Key=run + "reports/train.html")["ContentType"] == "text/html"

    evaluated = json.loads(
        cli(
            "evaluate",
            "--store",
            "s3://tweets-artifacts/pipeline",
            "--data",
            "s3://tweets-data/incoming/tweets.csv",
            env=aws_env,
            check=True,
        ).stdout
    )
    recorded = json.loads(get(run + "metrics.json"))
    assert evaluated["run_id"] == "s3-run" and evaluated["n"] == 600
    assert evaluated["data_sha256"] == json.loads(get(run + "params.json"))["data"]["sha256"]
    assert 0.33 < evaluated["macro_f1"] <= 1.0 and recorded["model"]["n"] == 60

    # The same file and parameters, in another store: the same run.
    store, run_id = finished_run
    local = store / "runs" / run_id
    for split in ("train.csv", "val.csv", "test.csv"):
        assert get(f"{run}data/{split}") == (local / "data" / split).read_bytes(), split
    assert json.loads((local / "metrics.json").read_text())["baseline"] == recorded["baseline"]


def test_s3_store_without_bucket_fails_cleanly(aws_env, labelled_csv):
    result = cli("run", "--data", str(labelled_csv), "--store", "s3://no-such-bucket/p", *FAST, env=aws_env)
    assert result.returncode == 2
    assert "bucket of s3://no-such-bucket/p/runs/" in result.stderr and "does not exist" in result.stderr
