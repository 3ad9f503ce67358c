"""The DAG's decisions without Airflow: configuration contract, commands, the gate's command, task-definition copy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sentiment_pipeline.deploy import orchestration as orch
from sentiment_pipeline.params import DEFAULTS, FORM_PARAMETERS

CONFIG = {
    "region": "eu-west-1",
    "cluster": "c",
    "training_task_definition": "train",
    "training_container": "training",
    "image_builder_task_definition": "kaniko",
    "image_builder_container": "kaniko",
    "subnets": ["subnet-1", "subnet-2"],
    "security_groups": ["sg-1"],
    "log_group": "/ecs/p",
    "training_log_stream_prefix": "training",
    "image_builder_log_stream_prefix": "image-builder",
    "data_uri": "s3://data/tweets.csv",
    "store_uri": "s3://artifacts/pipeline",
    "bento_repository_url": "123.dkr.ecr.eu-west-1.amazonaws.com/tweet-sentiment",
    "inference_cluster": "c",
    "inference_service": "svc",
    "inference_task_family": "inference",
    "inference_container": "bento",
    "endpoint_url": "http://alb.example",
}


def test_the_terraform_outputs_json_is_accepted_as_a_string_or_an_object():
    # eval_data_uri and captures_uri are optional (Variables written before them keep working): "" means none
    optional = {"eval_data_uri": "", "captures_uri": ""}
    assert orch.parse_config(json.dumps(CONFIG)) == orch.parse_config(CONFIG) == {**CONFIG, **optional}
    evaluated = {**CONFIG, "eval_data_uri": "s3://data/eval.csv", "captures_uri": "s3://artifacts/captures"}
    assert orch.parse_config(evaluated) == evaluated
    capturing = {**evaluated, "inference_capture_environment": {"SENTIMENT_CAPTURE_URI": "s3://artifacts/captures"}}
    assert orch.parse_config(capturing) == capturing


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (None, "no pipeline configuration: set the Airflow Variable 'sentiment_pipeline'"),
        ("{not json", "is not valid JSON"),
        ("[1]", "must be a JSON object"),
        ({k: v for k, v in CONFIG.items() if k not in {"cluster", "subnets"}}, "lacks cluster, subnets"),
        ({**CONFIG, "subnets": "subnet-1"}, "subnets must be a non-empty list of strings"),
        ({**CONFIG, "log_group": ""}, "log_group must be a non-empty string"),
        ({**CONFIG, "store_uri": "/tmp/store"}, "store_uri must be an s3:// URI in ECS mode"),
        ({**CONFIG, "eval_data_uri": "eval.csv"}, "eval_data_uri must be an s3:// URI in ECS mode"),
        ({**CONFIG, "endpoint_url": "alb.example"}, "endpoint_url must start with http"),
        ({**CONFIG, "inference_capture_environment": {"PATH": "/tmp"}}, "inference_capture_environment must map"),
        ({**CONFIG, "inference_capture_environment": {"SENTIMENT_CAPTURE_RATE": 1}}, "to strings, got"),
        ({**CONFIG, "bento_repository_url": CONFIG["bento_repository_url"] + ":v1"}, "must not carry a tag"),
    ],
)
def test_a_bad_configuration_names_what_is_wrong(raw, message):
    with pytest.raises(orch.ConfigError, match=message.replace("(", r"\(")):
        orch.parse_config(raw)


def test_mode_defaults_to_ecs_and_rejects_unknown_values():
    assert orch.pipeline_mode({}) == "ecs"
    assert orch.pipeline_mode({"SENTIMENT_PIPELINE_MODE": " Local "}) == "local"
    with pytest.raises(orch.ConfigError, match="not one of ecs, local"):
        orch.pipeline_mode({"SENTIMENT_PIPELINE_MODE": "k8s"})


def test_form_values_become_typed_checked_cli_overrides():
    form = {**orch.form_defaults(), "epochs": 2, "remove_stop_words": True, "extra_params": ["patience=2"]}
    args = orch.training_overrides(form)
    pairs = args[1::2]
    assert set(args[::2]) == {"-p"} and "epochs=2" in pairs and "remove_stop_words=true" in pairs
    assert pairs[-1] == "patience=2" and len(pairs) == len(FORM_PARAMETERS) + 1
    with pytest.raises(orch.ConfigError, match="unknown parameter 'epochz'"):
        orch.training_overrides({"extra_params": ["epochz=2"]})
    with pytest.raises(orch.ConfigError, match="dropout must be in"):
        orch.training_overrides({"extra_params": ["dropout=1.5"]})
    assert orch.form_defaults()["epochs"] == DEFAULTS["epochs"]


def test_commands_follow_the_container_contract():
    run_id = "scheduled__2026-11-23T00:00:00+00:00"
    assert orch.run_command("s3://d/x.csv", "s3://a/p", run_id, ["-p", "epochs=1"]) == [
        "sentiment-pipeline",
        "run",
        "--data",
        "s3://d/x.csv",
        "--store",
        "s3://a/p",
        "--run-id",
        run_id,
        "-p",
        "epochs=1",
    ]
    context = orch.context_uri("s3://a/p/", run_id)
    assert context == f"s3://a/p/runs/{run_id}/bento/context.tar.gz"
    image = orch.image_uri(CONFIG["bento_repository_url"], run_id)
    tag = image.rsplit(":", 1)[1]
    assert image.startswith(CONFIG["bento_repository_url"] + ":") and len(tag) <= 128 and tag[0].isalnum()
    assert set(tag) <= set("abcdefghijklmnopqrstuvwxyz0123456789_.-")  # a valid image tag for any run id
    assert orch.kaniko_command(context, image) == [
        f"--context={context}",
        "--dockerfile=env/docker/Dockerfile",
        f"--destination={image}",
    ]
    with pytest.raises(ValueError, match="invalid run id"):
        orch.package_command("s3://a/p", "../escape")


def test_the_gate_command_names_the_deployed_run_the_threshold_the_margin_and_the_evaluation_file():
    command = orch.gate_command("s3://a/p", "candidate", "champion", 0.7, 0.005, "s3://d/eval.csv")
    assert command == [
        "sentiment-pipeline",
        "gate",
        "--store",
        "s3://a/p",
        "--run-id",
        "candidate",
        "--deployed",
        "champion",
        "--min-macro-f1",
        "0.7",
        "--margin",
        "0.005",
        "--eval-data",
        "s3://d/eval.csv",
    ]
    assert orch.gate_command("s3://a/p", "candidate", None, 0.7, 0.005)[6:8] == ["--deployed", "none"]
    assert "--eval-data" in orch.run_command("s3://d/x.csv", "s3://a/p", "r", [], "s3://d/eval.csv")
    with pytest.raises(ValueError, match="invalid run id"):
        orch.gate_command("s3://a/p", "candidate", "../escape", 0.7, 0.005)


def test_a_task_definition_revision_keeps_everything_but_the_image_and_adds_the_model():
    current = {
        "taskDefinitionArn": "arn:...:task-definition/inference:3",
        "revision": 3,
        "status": "ACTIVE",
        "family": "inference",
        "executionRoleArn": "arn:role/exec",
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "1024",
        "memory": "2048",
        "volumes": [],
        "containerDefinitions": [
            {"name": "sidecar", "image": "otel:1"},
            {
                "name": "bento",
                "image": "repo:old",
                "portMappings": [{"containerPort": 3000}],
                "environment": [{"name": "SENTIMENT_MODEL_TAG", "value": "old"}, {"name": "A", "value": "1"}],
            },
        ],
    }
    new = orch.task_definition_revision(current, "bento", "repo:new", {"SENTIMENT_MODEL_TAG": "tweet_sentiment:new"})
    assert set(new) == {
        "family",
        "executionRoleArn",
        "networkMode",
        "requiresCompatibilities",
        "cpu",
        "memory",
        "containerDefinitions",
    }
    sidecar, bento = new["containerDefinitions"]
    assert sidecar == {"name": "sidecar", "image": "otel:1"}
    assert bento["image"] == "repo:new" and bento["portMappings"] == [{"containerPort": 3000}]
    assert bento["environment"] == [
        {"name": "A", "value": "1"},
        {"name": "SENTIMENT_MODEL_TAG", "value": "tweet_sentiment:new"},
    ]
    assert current["containerDefinitions"][1]["image"] == "repo:old"  # the input is not modified
    with pytest.raises(orch.ConfigError, match="has no container 'api'"):
        orch.task_definition_revision(current, "api", "repo:new", {})


def test_a_revision_takes_terraforms_capture_settings_and_drops_the_ones_it_no_longer_sets():
    running = [
        {"name": "SENTIMENT_CAPTURE_URI", "value": "s3://old/captures"},
        {"name": "SENTIMENT_CAPTURE_TEXT", "value": "hash"},
        {"name": "SENTIMENT_MODEL_TAG", "value": "old"},
        {"name": "OTHER", "value": "kept"},
    ]
    current = {
        "family": "inference",
        "containerDefinitions": [{"name": "bento", "image": "r:old", "environment": running}],
    }
    names = orch.CAPTURE_ENVIRONMENT_NAMES

    def environment(revision):
        return {e["name"]: e["value"] for e in revision["containerDefinitions"][0]["environment"]}

    turned_on = {"SENTIMENT_CAPTURE_URI": "s3://new/captures", "SENTIMENT_CAPTURE_RATE": "0.5"}
    model = {"SENTIMENT_MODEL_TAG": "new"}
    on = orch.task_definition_revision(current, "bento", "r:new", {**turned_on, **model}, replaced=names)
    assert environment(on) == {**turned_on, **model, "OTHER": "kept"}  # the old _TEXT=hash is gone
    off = orch.task_definition_revision(current, "bento", "r:new", model, replaced=names)
    assert environment(off) == {**model, "OTHER": "kept"}
    kept = orch.task_definition_revision(current, "bento", "r:new", model)  # a Variable without the key
    assert environment(kept) == {"SENTIMENT_CAPTURE_URI": "s3://old/captures", "SENTIMENT_CAPTURE_TEXT": "hash",
                                 **model, "OTHER": "kept"}  # fmt: skip


AIRFLOW_RUN_ID = "manual__2026-12-04T16:20:00.123456+00:00"  # ":" and "+" must survive a URL


def test_report_links_open_the_runs_reports_in_the_s3_console():
    links = orch.report_links("s3://artifacts/pipeline", AIRFLOW_RUN_ID, "eu-west-1")
    run = "manual__2026-12-04T16%3A20%3A00.123456%2B00%3A00"
    assert links == {
        "Run reports": "https://console.aws.amazon.com/s3/buckets/artifacts?region=eu-west-1"
        f"&prefix=pipeline/runs/{run}/reports/&showversions=false",
        "Runs index": "https://console.aws.amazon.com/s3/object/artifacts?region=eu-west-1&prefix=pipeline/index.html",
    }
    china = orch.report_links("s3://artifacts", "r1", "cn-north-1")["Run reports"]
    assert china.startswith("https://console.amazonaws.cn/s3/buckets/artifacts?region=cn-north-1&prefix=runs/r1/")
    # local mode on an S3 store may not know the region: the console finds the bucket
    assert "region=" not in orch.report_links("s3://artifacts", "r1")["Runs index"]


def test_report_links_of_a_local_store_are_file_urls_of_the_reports_and_the_runs_row(tmp_path):
    from urllib.parse import unquote, urlparse

    store = tmp_path / "a store"
    reports = store / "runs" / AIRFLOW_RUN_ID / "reports"
    reports.mkdir(parents=True)
    (store / "index.html").write_text("<p>index</p>")
    for uri in (str(store), store.as_uri()):
        links = orch.report_links(uri, AIRFLOW_RUN_ID)
        folder, index = urlparse(links["Run reports"]), urlparse(links["Runs index"])
        assert folder.scheme == index.scheme == "file"
        assert links["Run reports"].endswith("/") and Path(unquote(folder.path)) == reports
        assert Path(unquote(index.path)) == store / "index.html"
        assert unquote(index.fragment) == f"run-{AIRFLOW_RUN_ID}"  # the row's id: the index highlights it


def test_report_links_of_a_store_a_web_server_serves_are_its_urls():
    links = orch.report_links("/srv/store", AIRFLOW_RUN_ID, served_at="/sentiment-store/")
    assert links == {
        "Run reports": "/sentiment-store/runs/manual__2026-12-04T16%3A20%3A00.123456%2B00%3A00/reports/",
        "Runs index": "/sentiment-store/index.html#run-manual__2026-12-04T16:20:00.123456+00:00",
    }
