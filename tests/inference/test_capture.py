"""The service's capture (inference/capture.py): lines, sampling, the bounded queue, segments, failures; then a real
`bentoml serve` capturing to a folder and to S3 (moto server), read back with the reader's own function."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from sentiment_pipeline.errors import ConfigError, StoreError
from sentiment_pipeline.inference.capture import Capture, CaptureSettings, capture_settings, request_id
from sentiment_pipeline.inference.serving import Prediction
from sentiment_pipeline.inference.tokenizer import TweetTokenizer
from sentiment_pipeline.records.captures import SEGMENT_SUFFIX, read_captures
from sentiment_pipeline.records.store import LocalStore, S3Store
from support.project import ROOT
from support.serving import CLEAR_EXAMPLES, bentoml_serve, register_sample_model

TAG = "tweet_sentiment:run-1"
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def answer(label: str = "positive") -> Prediction:
    scores = {"negative": 0.1, "neutral": 0.2, "positive": 0.7}
    return Prediction(label=label, scores=scores, model=TAG)


@pytest.fixture
def captures(tmp_path):
    """Make Captures into a LocalStore in tmp_path (settings overridable); every one is closed at the end."""
    made: list[Capture] = []

    def make(store=None, tokenizer=None, **settings) -> Capture:
        capture = Capture(
            CaptureSettings(str(tmp_path), **settings),
            TAG,
            tokenizer,
            store=store or LocalStore(tmp_path),
            worker=f"w{len(made)}.test",  # one name per Capture: their keys never collide
            seed=0,
            drain_interval_s=0.02,
        )
        made.append(capture)
        return capture

    yield make
    for capture in made:
        capture.close(timeout=5)


def read_back(store, version: str = "run-1") -> list[dict]:
    now = datetime.now(UTC)
    read = read_captures(store, version, now - timedelta(hours=2), now + timedelta(hours=2))
    assert not read.unreadable_segments
    return read.lines


def segments(store) -> list[str]:
    return [key for key in store.list() if key.endswith(SEGMENT_SUFFIX)]


def test_each_answered_text_is_one_line_with_the_documented_fields(captures, tmp_path):
    capture = captures()
    capture.record("predict", ["I love this"], [answer()], "client-id-1")
    capture.record("predict_batch", ["one", "two"], [answer("negative"), answer("neutral")])
    assert capture.close()
    store = LocalStore(tmp_path)
    [key] = segments(store)
    assert re.fullmatch(r"run-1/\d{4}-\d\d-\d\d/\d\d/\d{8}T\d{6}Z-w0\.test-000000\.jsonl\.gz", key)
    lines = read_back(store)
    assert [(line["route"], line["text"], line["label"]) for line in lines] == [
        ("predict", "I love this", "positive"),
        ("predict_batch", "one", "negative"),
        ("predict_batch", "two", "neutral"),
    ]
    for line in lines:
        assert set(line) == {"request_id", "time", "model", "route", "text", "label", "scores"}
        assert TIME.match(line["time"]) and line["model"] == TAG
        assert line["scores"] == {"negative": 0.1, "neutral": 0.2, "positive": 0.7}
    assert lines[0]["request_id"] == "client-id-1"
    assert re.fullmatch(r"[0-9a-f]{32}", lines[1]["request_id"])  # none given: one made, shared by the batch's texts
    assert lines[1]["request_id"] == lines[2]["request_id"]
    assert (capture.lines_written, capture.segments_written, capture.dropped, capture.write_errors) == (3, 1, 0, 0)


def test_hash_mode_keeps_sha256_length_and_token_counts_and_never_the_text(captures, tmp_path):
    tokenizer = TweetTokenizer(min_count=1)
    tokenizer.fit(tokenizer.tokenize(["I love this movie"]))
    capture = captures(tokenizer=tokenizer, text="hash")
    text = "I love that zebra"
    capture.record("predict", [text], [answer()])
    assert capture.close()
    store = LocalStore(tmp_path)
    [line] = read_back(store)
    assert "text" not in line
    assert line["text_sha256"] == hashlib.sha256(text.encode()).hexdigest()
    assert (line["text_length"], line["tokens"], line["unknown_tokens"]) == (17, 4, 2)  # "that" and "zebra" unknown
    raw = gzip.decompress(store.read_bytes(segments(store)[0])).decode()
    assert "zebra" not in raw and "love" not in raw


def test_rate_zero_captures_nothing_and_a_half_samples_about_half_of_the_requests(captures, tmp_path):
    none = captures(rate=0.0)
    for _ in range(200):
        none.record("predict", ["x"], [answer()])
    assert none.close() and not segments(LocalStore(tmp_path))

    half = captures(rate=0.5)
    for i in range(2000):
        half.record("predict", [f"text {i}"], [answer()])
    assert half.close()
    assert 800 <= half.lines_written <= 1200
    assert len(read_back(LocalStore(tmp_path))) == half.lines_written


class BlockingStore(LocalStore):
    """A folder whose writes wait until ``release`` is set: a stalled store."""

    def __init__(self, root) -> None:
        super().__init__(root)
        self.writing, self.release = threading.Event(), threading.Event()

    def write_bytes(self, key: str, data: bytes) -> None:
        self.writing.set()
        self.release.wait(10)
        super().write_bytes(key, data)


def dropped_total() -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value("sentiment_capture_dropped_total") or 0.0


def test_a_full_queue_drops_answers_and_counts_them_and_never_blocks(captures, tmp_path):
    store = BlockingStore(tmp_path)
    capture = captures(store=store, segment_lines=1, queue_texts=2)
    before = dropped_total()
    capture.record("predict", ["first"], [answer()])
    assert store.writing.wait(5)  # the writer holds "first" and waits on the store
    started = time.perf_counter()
    capture.record("predict", ["second"], [answer()])
    capture.record("predict", ["third"], [answer()])  # the queue (2 texts) is full now
    capture.record("predict", ["fourth"], [answer()])
    capture.record("predict_batch", ["fifth", "sixth"], [answer(), answer()])
    assert time.perf_counter() - started < 0.5  # nothing waited for the store
    assert capture.dropped == 3 and dropped_total() - before == 3
    store.release.set()
    assert capture.close()
    assert sorted(line["text"] for line in read_back(store)) == ["first", "second", "third"]


def test_segments_rotate_by_size_and_their_union_is_every_line_once(captures, tmp_path):
    capture = captures(segment_lines=3)
    for i in range(10):
        capture.record("predict", [f"text {i}"], [answer()], f"id-{i}")
    assert capture.close()
    store = LocalStore(tmp_path)
    assert len(segments(store)) == 4 and capture.segments_written == 4
    assert sorted(line["request_id"] for line in read_back(store)) == sorted(f"id-{i}" for i in range(10))

    by_bytes = captures(segment_bytes=2_000)  # ~200 bytes a line besides its text: about one segment per 10 lines
    for i in range(30):
        by_bytes.record("predict", [f"more {i}"], [answer()])
    assert by_bytes.close() and by_bytes.segments_written >= 3


def test_segments_rotate_by_age_and_at_the_hour(captures, tmp_path):
    capture = captures(segment_seconds=0.3)
    capture.record("predict", ["early"], [answer()])
    deadline = time.time() + 5
    while capture.segments_written < 1 and time.time() < deadline:  # written by age, with no later answer
        time.sleep(0.05)
    assert capture.segments_written == 1
    capture.record("predict", ["late"], [answer()])
    assert capture.close() and capture.segments_written == 2
    assert sorted(line["text"] for line in read_back(LocalStore(tmp_path))) == ["early", "late"]

    hour = tmp_path / "hour"
    now = [datetime(2026, 12, 5, 10, 59, 59, 500_000, tzinfo=UTC).timestamp()]
    at_the_hour = Capture(
        CaptureSettings(str(hour)),
        TAG,
        store=LocalStore(hour),
        worker="w1",
        drain_interval_s=0.02,
        clock=lambda: now[0],
    )
    at_the_hour.record("predict", ["before"], [answer()])
    now[0] += 1  # 11:00:00.5, in the same minute-long segment's time but the next hour
    at_the_hour.record("predict", ["after"], [answer()])
    assert at_the_hour.close()
    folders = sorted(key.rsplit("/", 1)[0] for key in segments(LocalStore(hour)))
    assert folders == ["run-1/2026-12-05/10", "run-1/2026-12-05/11"]


def test_close_writes_what_is_queued_and_later_answers_are_ignored(captures, tmp_path):
    capture = captures()  # 60 s segments: only close() writes this one
    for i in range(50):
        capture.record("predict", [f"text {i}"], [answer()])
    assert capture.close(timeout=5)
    capture.record("predict", ["too late"], [answer()])
    assert len(read_back(LocalStore(tmp_path))) == 50 and capture.lines_written == 50


class FailingOnceStore(LocalStore):
    def __init__(self, root) -> None:
        super().__init__(root)
        self.failures = 1

    def write_bytes(self, key: str, data: bytes) -> None:
        if self.failures:
            self.failures -= 1
            raise StoreError("S3 error for s3://bucket/x: SlowDown Please reduce your request rate.")
        super().write_bytes(key, data)


def test_a_failed_write_drops_its_segment_counts_it_and_the_next_segment_goes_out(captures, tmp_path, caplog):
    from prometheus_client import REGISTRY

    before = REGISTRY.get_sample_value("sentiment_capture_write_errors_total") or 0.0
    capture = captures(store=FailingOnceStore(tmp_path), segment_lines=1)
    capture.record("predict", ["lost"], [answer()])
    capture.record("predict", ["kept"], [answer()])
    assert capture.close()
    assert (capture.write_errors, capture.segments_written, capture.lines_written) == (1, 1, 1)
    assert REGISTRY.get_sample_value("sentiment_capture_write_errors_total") - before == 1
    assert [line["text"] for line in read_back(LocalStore(tmp_path))] == ["kept"]
    [warning] = [r for r in caplog.records if "dropped segment" in r.getMessage()]
    assert "SlowDown" in warning.getMessage() and "\n" not in warning.getMessage()


def test_settings_come_from_the_environment_and_bad_values_are_one_line_errors(tmp_path):
    assert capture_settings({}) is None and capture_settings({"SENTIMENT_CAPTURE_URI": " "}) is None
    settings = capture_settings(
        {
            "SENTIMENT_CAPTURE_URI": "s3://bucket/captures",
            "SENTIMENT_CAPTURE_RATE": "0.25",
            "SENTIMENT_CAPTURE_TEXT": "hash",
        }
    )
    assert (settings.uri, settings.rate, settings.text, settings.segment_seconds) == (
        "s3://bucket/captures",
        0.25,
        "hash",
        60.0,
    )
    uri = {"SENTIMENT_CAPTURE_URI": str(tmp_path)}
    for environ, message in [
        ({**uri, "SENTIMENT_CAPTURE_RATE": "half"}, "SENTIMENT_CAPTURE_RATE must be a number from 0 to 1, got 'half'"),
        ({**uri, "SENTIMENT_CAPTURE_RATE": "1.5"}, "SENTIMENT_CAPTURE_RATE must be a number from 0 to 1, got '1.5'"),
        ({**uri, "SENTIMENT_CAPTURE_RATE": "nan"}, "SENTIMENT_CAPTURE_RATE must be a number from 0 to 1, got 'nan'"),
        ({**uri, "SENTIMENT_CAPTURE_TEXT": "sha"}, "SENTIMENT_CAPTURE_TEXT must be one of full, hash, got 'sha'"),
        (
            {**uri, "SENTIMENT_CAPTURE_SEGMENT_S": "0"},
            "SENTIMENT_CAPTURE_SEGMENT_S must be a number of seconds above 0",
        ),
        ({**uri, "SENTIMENT_CAPTURE_SEGMENT_LINES": "inf"}, "SENTIMENT_CAPTURE_SEGMENT_LINES must be a whole number"),
        ({"SENTIMENT_CAPTURE_URI": "ftp://host/x"}, "SENTIMENT_CAPTURE_URI: unsupported store URI 'ftp://host/x'"),
        ({"SENTIMENT_CAPTURE_URI": "s3://"}, "SENTIMENT_CAPTURE_URI: S3 store URI needs a bucket"),
    ]:
        with pytest.raises(ConfigError) as error:
            capture_settings(environ)
        assert str(error.value).startswith(message) and "\n" not in str(error.value)


def test_the_request_id_is_the_callers_header_else_bentomls_else_none():
    def ctx(headers: dict, scope: dict | None = None):
        return SimpleNamespace(request=SimpleNamespace(headers=headers, scope=scope or {}))

    assert request_id(ctx({"x-request-id": "abc", "x-amzn-trace-id": "Root=1-2-3"})) == "abc"
    assert request_id(ctx({"x-amzn-trace-id": "Root=1-2-3"})) == "Root=1-2-3"
    assert request_id(ctx({}, {"request_id": 255})) == "00000000000000ff"
    assert request_id(ctx({})) is None

    class Outside:
        @property
        def request(self):
            raise LookupError("no request")

    assert request_id(Outside()) is None


# ---- a real `bentoml serve` ----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_service_refuses_a_bad_capture_setting_at_start_in_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTIMENT_CAPTURE_")}
    env |= {"SENTIMENT_CAPTURE_URI": str(tmp_path), "SENTIMENT_CAPTURE_RATE": "2"}
    done = subprocess.run([sys.executable, "-c", "import service"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 1
    assert done.stderr == "error: SENTIMENT_CAPTURE_RATE must be a number from 0 to 1, got '2'\n"


@pytest.fixture(scope="module")
def bento_env(tmp_path_factory, sample_run) -> dict:
    return register_sample_model(sample_run, tmp_path_factory.mktemp("bentoml") / "home")


def serve_and_ask(env: dict, log: Path) -> list[tuple[str, str, str, str | None]]:
    """Serve with ``env``, ask /predict (one with its own request id) and /predict_batch, stop it gracefully;
    the (route, text, label, request id sent) of every answer."""
    asked = []
    with bentoml_serve(env, log) as url:
        metrics = httpx.get(f"{url}/metrics", timeout=5).text
        assert "sentiment_capture_dropped_total" in metrics, metrics[-2000:]
        for i, text in enumerate(CLEAR_EXAMPLES):
            headers = {"x-request-id": "caller-id-7"} if i == 0 else {}
            response = httpx.post(f"{url}/predict", json={"text": text}, headers=headers, timeout=10)
            assert response.status_code == 200, response.text
            asked.append(("predict", text, response.json()["label"], headers.get("x-request-id")))
        batch = ["what a lovely day", "the bus is late again, I hate it", "meeting at 3"]
        response = httpx.post(f"{url}/predict_batch", json={"texts": batch}, timeout=10)
        assert response.status_code == 200, response.text
        asked += [("predict_batch", t, a["label"], None) for t, a in zip(batch, response.json(), strict=True)]
    return asked


def assert_captured(store, tag: str, asked: list) -> None:
    lines = read_back(store, tag.split(":")[1])
    assert sorted((x["route"], x["text"], x["label"]) for x in lines) == sorted(a[:3] for a in asked)
    assert all(x["model"] == tag for x in lines)
    assert [x["request_id"] for x in lines if x["text"] == asked[0][1]] == ["caller-id-7"]
    batch_ids = {x["request_id"] for x in lines if x["route"] == "predict_batch"}
    assert len(batch_ids) == 1


@pytest.mark.slow
def test_bentoml_serve_captures_every_answer_into_a_folder_by_a_graceful_stop(bento_env, tmp_path):
    folder = tmp_path / "captures"
    asked = serve_and_ask({**bento_env, "SENTIMENT_CAPTURE_URI": str(folder)}, tmp_path / "serve.log")
    store = LocalStore(folder)
    assert segments(store), (tmp_path / "serve.log").read_text()[-3000:]  # 60 s segments: written by the stop
    assert_captured(store, bento_env["SENTIMENT_MODEL_TAG"], asked)


@pytest.mark.slow
def test_bentoml_serve_captures_to_s3(bento_env, aws_env, tmp_path):
    import boto3

    boto3.client("s3").create_bucket(Bucket="captures")
    uri = "s3://captures/service"
    asked = serve_and_ask({**bento_env, **aws_env, "SENTIMENT_CAPTURE_URI": uri}, tmp_path / "serve.log")
    store = S3Store(uri)
    keys = segments(store)
    assert keys, (tmp_path / "serve.log").read_text()[-3000:]
    listed = boto3.client("s3").list_objects_v2(Bucket="captures")["Contents"]
    assert {o["Key"] for o in listed} == {f"service/{key}" for key in keys}
    assert all(json.loads(line) for key in keys for line in gzip.decompress(store.read_bytes(key)).splitlines())
    assert_captured(store, bento_env["SENTIMENT_MODEL_TAG"], asked)
