"""A real `bentoml serve` process on loopback, hit over HTTP, serving a model registered from a real run."""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from support.project import BIN, ROOT, SAMPLE_RUN_ID, cli, free_port, in_fresh_interpreter
from support.serving import (
    CLEAR_EXAMPLES,
    NOT_IN_THE_BENTO,
    assert_labels_the_clear_examples,
    assert_serves_like_the_cli,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bento_home(tmp_path_factory, sample_run) -> dict:
    """The model of the shared run on the synthetic sample, registered in a private BentoML store."""
    home, store = tmp_path_factory.mktemp("bentoml"), sample_run
    env = {"BENTOML_HOME": str(home / "home"), "BENTOML_DO_NOT_TRACK": "true"}
    registered = json.loads(cli("register", "--store", str(store), env=env, check=True).stdout)
    assert registered == {
        "tag": f"tweet_sentiment:{SAMPLE_RUN_ID}",
        "run_id": SAMPLE_RUN_ID,
        "chosen": "the newest succeeded run (latest.json)",  # `register` says which run it took (a4de85a)
        "created": True,
    }
    again = json.loads(cli("register", "--store", str(store), "--run-id", SAMPLE_RUN_ID, env=env, check=True).stdout)
    assert again["created"] is False
    return {**env, "store": str(store)}


@pytest.fixture(scope="module")
def server(bento_home):
    port = free_port()
    env = {
        **os.environ,
        **{k: v for k, v in bento_home.items() if k != "store"},
        "SENTIMENT_MODEL_TAG": f"tweet_sentiment:{SAMPLE_RUN_ID}",
    }
    log = open(Path(bento_home["BENTOML_HOME"]) / "serve.log", "w")  # noqa: SIM115
    process = subprocess.Popen(
        [str(BIN / "bentoml"), "serve", "service:TweetSentiment", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        assert process.poll() is None, Path(log.name).read_text()[-3000:]
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    else:
        raise AssertionError("bentoml serve did not become ready:\n" + Path(log.name).read_text()[-3000:])
    yield url
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=30)
    log.close()


def test_the_service_loads_and_answers_with_the_training_stack_blocked(bento_home):
    """What the bento's requirements leave out cannot be imported here: the service module, the registered model's
    ONNX Runtime session and an answer must all work without them (a fresh interpreter, as in the image)."""
    code = (
        "import json, sys, bentoml, service\n"
        "from sentiment_pipeline.inference.predictor import load_predictor\n"
        "answer = load_predictor(bentoml.models.get(service.MODEL_TAG).path).predict(['what a lovely day :)'])\n"
        "print(json.dumps({'answer': answer, 'modules': sorted(k for k, v in sys.modules.items() if v)}))"
    )
    env = {k: v for k, v in bento_home.items() if k != "store"}
    result = in_fresh_interpreter(
        code, NOT_IN_THE_BENTO, env={**env, "SENTIMENT_MODEL_TAG": f"tweet_sentiment:{SAMPLE_RUN_ID}"}
    )
    assert result["answer"][0]["label"] == "positive"
    assert "onnxruntime" in {m.split(".")[0] for m in result["modules"]}


def test_clear_examples_get_the_right_label(server):
    assert_labels_the_clear_examples(server, f"tweet_sentiment:{SAMPLE_RUN_ID}")


def test_service_scores_equal_the_training_code_scores(server, bento_home):
    assert_serves_like_the_cli(server, bento_home["store"])


def test_batch_keeps_input_order(server):
    texts = [text for text in CLEAR_EXAMPLES for _ in range(20)]  # 120 texts
    response = httpx.post(f"{server}/predict_batch", json={"texts": texts}, timeout=30)
    assert response.status_code == 200
    assert [p["label"] for p in response.json()] == [CLEAR_EXAMPLES[t] for t in texts]


def test_concurrent_requests_are_batched_and_each_gets_its_own_answer(server):
    import asyncio

    texts = [text for text in CLEAR_EXAMPLES for _ in range(16)]  # 96 concurrent single-text requests, mixed batches

    async def fire() -> list[dict]:
        async with httpx.AsyncClient(timeout=30) as client:
            responses = await asyncio.gather(*(client.post(f"{server}/predict", json={"text": t}) for t in texts))
        return [r.json() for r in responses]

    assert [p["label"] for p in asyncio.run(fire())] == [CLEAR_EXAMPLES[t] for t in texts]
    metrics = httpx.get(f"{server}/metrics", timeout=5).text
    counts = {  # cumulative histogram: calls with at most N texts
        line.split('le="')[1].split('"')[0]: float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("sentiment_batch_size_bucket")
    }
    assert counts, metrics[-2000:]
    assert counts["1.0"] < counts["+Inf"]  # some model calls carried more than one request


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/predict", {"text": ""}),
        ("/predict", {"text": "   \n\t "}),
        ("/predict", {"text": "x" * 2001}),
        ("/predict", {"text": 42}),
        ("/predict", {"txt": "hello"}),
        ("/predict", ["hello"]),
        ("/predict_batch", {"texts": []}),
        ("/predict_batch", {"texts": ["ok"] * 257}),
        ("/predict_batch", {"texts": ["ok", " "]}),
        ("/predict_batch", {"texts": "not a list"}),
    ],
    ids=[
        "empty",
        "whitespace",
        "too-long",
        "number",
        "wrong-field",
        "not-object",
        "empty-batch",
        "batch-too-big",
        "blank-in-batch",
        "texts-not-list",
    ],
)
def test_bad_input_is_a_4xx_and_the_service_keeps_serving(server, path, body):
    response = httpx.post(f"{server}{path}", json=body, timeout=10)
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert httpx.post(f"{server}/predict", json={"text": "still fine"}, timeout=10).status_code == 200


def test_malformed_json_is_a_400(server):
    response = httpx.post(
        f"{server}/predict", content=b'{"text": "unterminated', timeout=10, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "json_invalid" and response.json()["error"]["field"] is None


def test_every_4xx_answers_one_error_shape_naming_the_field(server):
    """A refused field was answered in pydantic's shape, a 415 or 413 in another: one shape now, the field named."""
    blank = httpx.post(f"{server}/predict_batch", json={"texts": ["fine", "   "]}, timeout=10)
    assert blank.status_code == 400
    assert blank.json()["error"]["field"] == "texts.1" and set(blank.json()["error"]) == {"type", "message", "field"}
    missing = httpx.post(f"{server}/predict", json={"txt": "hello"}, timeout=10)
    assert missing.status_code == 400 and missing.json()["error"] == {
        "type": "missing",
        "message": "Field required",
        "field": "text",
    }


def test_the_api_document_describes_this_service_and_its_errors(server):
    docs = httpx.get(f"{server}/docs.json", timeout=10).json()
    assert docs["info"]["title"] == "Tweet sentiment"
    assert docs["info"]["version"].startswith("tweet_sentiment:") and "/predict_batch" in docs["info"]["description"]
    error = docs["paths"]["/predict"]["post"]["responses"]["400"]["content"]["application/json"]["schema"]
    assert error == {"$ref": "#/components/schemas/Error"} and "Error" in docs["components"]["schemas"]


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"])
def test_non_json_bodies_are_415(server, content_type):
    response = httpx.post(
        f"{server}/predict", content=b"text=hello", headers={"content-type": content_type}, timeout=10
    )
    assert response.status_code == 415 and "application/json" in response.json()["error"]["message"]


def test_a_compressed_body_is_415_naming_its_encoding_and_the_service_keeps_serving(server):
    import gzip

    body = gzip.compress(json.dumps({"text": "I love this"}).encode())  # it was answered 400 "Invalid JSON"
    headers = {"content-type": "application/json", "content-encoding": "gzip"}
    response = httpx.post(f"{server}/predict", content=body, headers=headers, timeout=10)
    assert response.status_code == 415, (response.status_code, response.text)
    assert response.json() == {
        "error": {
            "type": "unsupported_media_type",
            "message": "Content-Encoding gzip is not supported: send the JSON body uncompressed",
            "field": None,
        }
    }
    assert httpx.post(f"{server}/predict", json={"text": "still fine"}, timeout=10).status_code == 200


def test_a_body_over_the_limit_is_413_declared_or_streamed_and_the_service_keeps_serving(server):
    body = b'{"texts": ["' + b"x" * (5 * 1024 * 1024) + b'"]}'  # 5 MB: over 4 MB, never read whole
    declared = httpx.post(f"{server}/predict_batch", content=body, headers={"content-type": "application/json"})
    assert declared.status_code == 413 and declared.json()["error"]["type"] == "payload_too_large"
    assert "request body over" in declared.json()["error"]["message"]
    chunks = (body[i : i + 65536] for i in range(0, len(body), 65536))  # no Content-Length: chunked
    streamed = httpx.post(f"{server}/predict_batch", content=chunks, headers={"content-type": "application/json"})
    assert streamed.status_code == 413
    assert httpx.post(f"{server}/predict", json={"text": "still fine"}, timeout=10).status_code == 200


def test_each_bad_request_leaves_one_log_line_and_no_traceback(server, bento_home):
    log = Path(bento_home["BENTOML_HOME"]) / "serve.log"
    seen = log.read_text().count("-> 400 ValidationError")
    for body in (b'{"text": ""}', b'{"text": 5'):
        response = httpx.post(f"{server}/predict", content=body, headers={"content-type": "application/json"})
        assert response.status_code == 400
    deadline = time.time() + 10  # the workers' lines reach the log through the arbiter
    while log.read_text().count("-> 400 ValidationError") < seen + 2 and time.time() < deadline:
        time.sleep(0.2)
    text = log.read_text()
    assert text.count("-> 400 ValidationError") == seen + 2, text[-3000:]
    assert "Traceback" not in text


def test_health_metrics_and_openapi(server):
    for path in ("/healthz", "/livez", "/readyz"):
        assert httpx.get(f"{server}{path}", timeout=5).status_code == 200
    httpx.post(f"{server}/predict", json={"text": "count me"}, timeout=10)
    metrics = httpx.get(f"{server}/metrics", timeout=5).text
    assert "bentoml_service_request_total" in metrics and 'endpoint="/predict"' in metrics
    spec = httpx.get(f"{server}/docs.json", timeout=5).json()
    assert {"/predict", "/predict_batch"} <= set(spec["paths"])


def test_schemathesis_finds_no_server_errors(server, tmp_path):
    result = subprocess.run(
        [
            str(BIN / "schemathesis"),
            "run",
            f"{server}/docs.json",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            "40",
            "--include-path-regex",
            "^/predict",
            "--generation-deterministic",
            "--request-timeout",
            "10",
        ],
        cwd=tmp_path,  # its .schemathesis/ cache goes there, not into the source tree
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:]
    assert httpx.get(f"{server}/readyz", timeout=5).status_code == 200


def test_bentoml_build_packages_service_code_model_and_pinned_requirements(bento_home, tmp_path):
    env = {
        **os.environ,
        **{k: v for k, v in bento_home.items() if k != "store"},
        "SENTIMENT_MODEL_TAG": f"tweet_sentiment:{SAMPLE_RUN_ID}",
    }
    built = subprocess.run(
        [str(BIN / "bentoml"), "build", "-o", "tag"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert built.returncode == 0, built.stderr[-3000:]
    tag = built.stdout.strip().split("__tag__:")[-1].strip()
    name, version = tag.split(":")
    bento = Path(bento_home["BENTOML_HOME"]) / "bentos" / name / version
    info = (bento / "bento.yaml").read_text()
    assert f"tweet_sentiment:{SAMPLE_RUN_ID}" in info and "TweetSentiment" in info
    packaged = sorted(str(f.relative_to(bento / "src")) for f in (bento / "src").rglob("*.py"))
    inference = ROOT / "sentiment_pipeline" / "inference"
    # The inference folder and the capture's store and layout, nothing else: no training code, no other record
    # module, and no service.py from .venv/.tools (anchored).
    capture = ["errors.py", "records/__init__.py", "records/store.py", "records/captures.py"]
    assert packaged == sorted(
        ["service.py", "sentiment_pipeline/__init__.py", *(f"sentiment_pipeline/{name}" for name in capture)]
        + [str(p.relative_to(ROOT)) for p in inference.glob("*.py")]
    )
    requirements = (bento / "env" / "python" / "requirements.txt").read_text()
    assert "onnxruntime==1.32.0" in requirements and "bentoml==1.4.30" in requirements
    named = {line.split("==")[0].strip().lower() for line in requirements.splitlines() if "==" in line}
    assert not named & {"tensorflow", "tensorflow-cpu", "keras", "tf2onnx", "pandas", "scikit-learn", "jupyter"}
    dockerfile = bento / "env" / "docker" / "Dockerfile"
    text = dockerfile.read_text()
    assert "USER bentoml" in text and "ENTRYPOINT" in text
    lint = subprocess.run(
        [str(BIN / "hadolint"), "--failure-threshold", "error", str(dockerfile)], capture_output=True, text=True
    )
    assert lint.returncode == 0, lint.stdout
