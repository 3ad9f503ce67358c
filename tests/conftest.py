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
