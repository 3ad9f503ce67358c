"""The bento image, built from the very build context `sentiment-pipeline package` uploads for Kaniko, run on
loopback and called over HTTP."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

import httpx
import pytest

from support.containers import LABEL, build_bento_image, engine_cli, image_config, remove_test_containers, wait_http
from support.project import BIN, ROOT, SAMPLE_RUN_ID, cli, constraint, free_port
from support.serving import NOT_IN_THE_BENTO, assert_labels_the_clear_examples, assert_serves_like_the_cli
from support.terraform import tool

pytestmark = pytest.mark.slow

RUN_ID = SAMPLE_RUN_ID


@pytest.fixture(scope="module")
def packaged(tmp_path_factory, sample_run) -> dict:
    """The shared run on the synthetic sample, packaged into a Kaniko build context (in a copy of its store)."""
    home = tmp_path_factory.mktemp("bento-image")
    store = home / "runs"
    shutil.copytree(sample_run, store)
    env = {"BENTOML_HOME": str(home / "bentoml"), "BENTOML_DO_NOT_TRACK": "true"}
    out = cli("package", "--store", str(store), "--run-id", RUN_ID, "--project-dir", str(ROOT), env=env, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return {**result, "store": str(store), "context": Path(result["context_uri"].removeprefix("file://"))}


@pytest.fixture(scope="module")
def bento_image(packaged) -> str:
    yield build_bento_image(packaged["context"], f"tweet-sentiment:test-{RUN_ID}")
    remove_test_containers()


@pytest.fixture(scope="module")
def served(bento_image) -> dict:
    """The image started as ECS starts it (its own entrypoint and user), port 3000 published on loopback."""
    port = free_port()
    name = f"bento-{RUN_ID}-{os.getpid()}"  # unique on the machine: another test run may serve its own
    started = time.monotonic()
    engine_cli("run", "--detach", "--name", name, "--label", LABEL, "--publish", f"127.0.0.1:{port}:3000", bento_image)
    url = f"http://127.0.0.1:{port}"
    ready = wait_http(f"{url}/readyz", name)
    print(
        f"\nbento image: /readyz answered {time.monotonic() - started:.1f} s after `podman run` ({ready:.1f} s polling)"
    )
    yield {"url": url, "name": name}
    engine_cli("rm", "--force", name, check=False)


def test_the_context_holds_the_generated_dockerfile_and_the_model(packaged, tmp_path):
    with tarfile.open(packaged["context"], "r:gz") as tar:
        names = {name.removeprefix("./") for name in tar.getnames()}
        tar.extractall(tmp_path, filter="data")
    assert "env/docker/Dockerfile" in names
    model = {n.rsplit("/", 1)[-1] for n in names if n.startswith(f"models/tweet_sentiment/{RUN_ID}/")}
    assert {"model.onnx", "tokenizer.json", "labels.json"} <= model and "model.keras" not in model
    dockerfile = (tmp_path / "env" / "docker" / "Dockerfile").read_text()
    # the official base by default (Kaniko on AWS), a build argument for machines with no registry
    assert "ARG BASE_IMAGE=python:3.11.14-slim-bookworm\nFROM ${BASE_IMAGE} as base-container" in dockerfile


def test_the_generated_dockerfile_passes_hadolint_and_trivy(packaged, tmp_path):
    with tarfile.open(packaged["context"], "r:gz") as tar:
        dockerfile = tar.extractfile("./env/docker/Dockerfile").read()
    (tmp_path / "scan").mkdir()
    (tmp_path / "scan" / "Dockerfile").write_bytes(dockerfile)  # alone: the bento's Jinja template is no Dockerfile
    lint = subprocess.run(
        [str(BIN / "hadolint"), "--failure-threshold", "error", str(tmp_path / "scan" / "Dockerfile")],
        capture_output=True,
        text=True,
    )
    assert lint.returncode == 0, lint.stdout
    scan = subprocess.run(
        [
            tool("trivy"),
            "config",
            "--skip-check-update",
            "--cache-dir",
            str(tmp_path / "cache"),
            "--exit-code",
            "1",
            "--format",
            "json",
            str(tmp_path / "scan"),
        ],
        capture_output=True,
        text=True,
    )
    [result] = json.loads(scan.stdout)["Results"]
    assert not result.get("Misconfigurations") and scan.returncode == 0, result.get("Misconfigurations")


def test_the_image_runs_as_a_non_root_user_with_no_build_settings_left(bento_image, served):
    config = image_config(bento_image)
    assert config["User"] == "bentoml"
    assert not [e for e in config["Env"] if e.startswith(("UV_NATIVE_TLS", "PIP_CERT", "SSL_CERT_FILE"))]
    uid = engine_cli("exec", served["name"], "id", "-u").stdout.strip()
    assert uid.isdigit() and int(uid) != 0


def test_the_image_carries_onnx_runtime_and_none_of_the_training_stack(served):
    code = (
        "import importlib.util as u, json; "
        f"print(json.dumps([m for m in {sorted(NOT_IN_THE_BENTO)!r} + ['onnxruntime'] if u.find_spec(m)]))"
    )
    found = engine_cli("exec", served["name"], "python", "-c", code).stdout.strip().splitlines()[-1]
    assert json.loads(found) == ["onnxruntime"]


def test_the_image_serves_on_the_fast_http_stack_the_host_has():
    """uvloop and httptools, which uvicorn (under BentoML) takes when it finds them, pinned as the host has them."""
    pinned = dict(
        line.split("==") for line in (ROOT / "requirements" / "serve.txt").read_text().splitlines() if "==" in line
    )
    assert {name: pinned.get(name) for name in ("uvloop", "httptools")} == {
        name: constraint(name) for name in ("uvloop", "httptools")
    }


def test_the_image_has_uvloop_and_httptools(served):
    code = "import uvloop, httptools, json; print(json.dumps([uvloop.__version__, httptools.__version__]))"
    found = engine_cli("exec", served["name"], "python", "-c", code).stdout.strip().splitlines()[-1]
    assert json.loads(found) == [constraint("uvloop"), constraint("httptools")]


def test_clear_examples_get_the_right_label(served):
    assert_labels_the_clear_examples(served["url"], f"tweet_sentiment:{RUN_ID}")


def test_the_image_scores_like_sentiment_pipeline_predict_on_the_same_run(served, packaged):
    assert_serves_like_the_cli(served["url"], packaged["store"], RUN_ID)


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/predict", {"text": ""}, 400),
        ("/predict", {"text": "x" * 2001}, 400),
        ("/predict_batch", {"texts": ["ok"] * 257}, 400),
        ("/predict", "text=hello", 415),
    ],
    ids=["empty", "too-long", "batch-too-big", "not-json"],
)
def test_the_limits_answer_4xx_and_the_container_keeps_serving(served, path, body, status):
    if isinstance(body, str):
        response = httpx.post(
            f"{served['url']}{path}", content=body, headers={"content-type": "text/plain"}, timeout=10
        )
    else:
        response = httpx.post(f"{served['url']}{path}", json=body, timeout=10)
    assert response.status_code == status, response.text
    assert httpx.post(f"{served['url']}/predict", json={"text": "still fine"}, timeout=10).status_code == 200
