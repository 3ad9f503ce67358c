"""Shared fixtures: small labelled data, a moto S3 server on loopback, a finished pipeline run."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# The labelled tweets tests carve their data from: ../shared beside the checkout here; GitHub CI fetches the
# file from the data bucket and names it in SENTIMENT_PIPELINE_TEST_DATA (.github/workflows/ci.yml).
SHARED_DATA = Path(
    os.environ.get("SENTIMENT_PIPELINE_TEST_DATA")
    or ROOT.parent / "shared" / "data" / "tweet_sentiment_extraction" / "train.csv"
)
# A small model that still learns on 480 training tweets in ~20 s (two members, so averaging is exercised).
FAST = [
    arg
    for pair in (
        "epochs=4",
        "learning_rate=0.01",
        "embedding_dim=32",
        "lstm_units=16",
        "ngram_dim=16",
        "char_dim=16",
        "batch_size=32",
        "ensemble_size=2",
        "min_count=1",
    )
    for arg in ("-p", pair)
]


def constraint(name: str) -> str:
    """The version constraints.txt pins ``name`` to (a trailing comment ignored)."""
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.lower().startswith(f"{name.lower()}=="):
            return line.split("==", 1)[1].split()[0]
    raise AssertionError(f"{name} is not pinned in constraints.txt")


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
    """No train/serve skew: ``/predict_batch`` at ``url`` gives the scores ``sentiment-pipeline predict`` gives
    (the package's own predictor on the run's files) for the clear examples and a messy tweet."""
    import httpx

    texts = [*CLEAR_EXAMPLES, "I can`t believe it's not bad @someone http://t.co/x"]
    predicted = cli("predict", "--store", store, "--run-id", run_id, *texts, check=True).stdout.splitlines()
    response = httpx.post(f"{url}/predict_batch", json={"texts": texts}, timeout=30)
    assert response.status_code == 200, response.text
    for want, got in zip(map(json.loads, predicted), response.json(), strict=True):
        assert got["label"] == want["label"], (want, got)
        for label, score in want["scores"].items():
            assert abs(got["scores"][label] - score) < 1e-4, (want, got)


# ---- tests write only into temporary folders ------------------------------------------------------------------------
_CACHES = ("__pycache__", ".pytest_cache", ".ruff_cache")
_TREE_BEFORE = pytest.StashKey[set | None]()


def _source_tree_entries() -> set[str] | None:
    """What `git status` shows in the checkout (changed, untracked and ignored entries), caches aside."""
    try:
        out = subprocess.run(
            ["git", "status", "--porcelain", "--ignored=matching", "--untracked-files=normal"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None  # not a git checkout: nothing to compare
    return {line for line in out.splitlines() if not any(cache in line for cache in _CACHES)}


def pytest_sessionstart(session):
    session.config.stash[_TREE_BEFORE] = _source_tree_entries()


def pytest_sessionfinish(session, exitstatus):
    """Fail the session if the tests left anything new in the source tree (they must use temporary folders)."""
    before = session.config.stash.get(_TREE_BEFORE, None)
    after = _source_tree_entries()
    if before is None or after is None:
        return
    new = sorted(after - before)
    if new:
        print("\nerror: the tests wrote into the source tree:\n  " + "\n  ".join(new), file=sys.stderr)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cli(*args: str, env: dict | None = None, check: bool = False, stdin: str | None = None):
    """Run the installed ``sentiment-pipeline`` command the way a user does."""
    result = subprocess.run(
        [str(BIN / "sentiment-pipeline"), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        input=stdin,
        timeout=600,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr[-4000:]}")
    return result


@pytest.fixture(scope="session")
def labelled_csv(tmp_path_factory) -> Path:
    """600 real tweets (200 per class) carved from the shared training file, or the synthetic sample."""
    import pandas as pd

    out = tmp_path_factory.mktemp("data") / "tweets.csv"
    if not SHARED_DATA.is_file():
        pytest.fail(
            f"labelled tweets not found at {SHARED_DATA}: "
            "put ../shared beside the checkout or set SENTIMENT_PIPELINE_TEST_DATA"
        )
    frame = pd.read_csv(SHARED_DATA, dtype=str, keep_default_na=False)
    frame.groupby("label_text").sample(200, random_state=0).sample(frac=1, random_state=0).to_csv(out, index=False)
    return out


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory, labelled_csv) -> tuple[Path, str]:
    """One real pipeline run (papermill, both notebooks, small model) shared by the read-only tests."""
    store = tmp_path_factory.mktemp("store")
    result = cli("run", "--data", str(labelled_csv), "--store", str(store), "--run-id", "first-run", *FAST, check=True)
    return store, json.loads(result.stdout)["run_id"]


@pytest.fixture(scope="session")
def moto_server():
    """A real S3 API (moto server) on loopback, with credentials that only it accepts."""
    port = free_port()
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    process = subprocess.Popen(
        [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.2)
    else:
        process.kill()
        raise RuntimeError("moto server did not start")
    yield {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def aws_env(moto_server, monkeypatch):
    """Point boto3 in this process at the moto server."""
    for key, value in moto_server.items():
        monkeypatch.setenv(key, value)
    return moto_server
