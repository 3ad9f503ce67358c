"""The in-process adaptive batcher, without a server (the request limits are tested over HTTP)."""

import asyncio

import pytest

from sentiment_pipeline.inference.serving import Prediction, adaptive_batching


def fake_model(calls: list[list[str]]):
    def predict(texts: list[str]) -> list[Prediction]:
        calls.append(list(texts))
        return [Prediction(label=t, scores={t: 1.0}, model="fake") for t in texts]

    return predict


def test_concurrent_calls_share_model_calls_and_get_their_own_answers_in_order():
    calls: list[list[str]] = []

    async def main():
        classify = adaptive_batching(fake_model(calls), max_batch_size=8, max_latency_ms=1000)
        inputs = [[f"t{i}"] for i in range(20)] + [[f"b{i}" for i in range(13)]]  # 13 > max batch: split
        return inputs, await asyncio.gather(*(classify(texts) for texts in inputs))

    inputs, results = asyncio.run(main())
    assert [[p.label for p in result] for result in results] == inputs
    assert max(len(c) for c in calls) <= 8  # never more than max_batch_size texts per model call
    assert len(calls) < len(inputs)  # concurrent calls were grouped
    assert sorted(t for c in calls for t in c) == sorted(t for i in inputs for t in i)  # each text once


def test_a_failing_model_call_fails_only_its_requests():
    """One model call raising fails the requests it carried; other calls, and later ones, still get answers."""
    calls: list[list[str]] = []
    answer = fake_model(calls)

    def predict(texts: list[str]) -> list[Prediction]:
        if "bad" in texts:
            raise RuntimeError("model broke")
        return answer(texts)

    async def main():
        classify = adaptive_batching(predict, max_batch_size=1, max_latency_ms=1000)  # one text per model call
        together = await asyncio.gather(classify(["bad"]), classify(["good"]), return_exceptions=True)
        return together, await classify(["later"])

    (failed, served), later = asyncio.run(main())
    assert isinstance(failed, RuntimeError) and str(failed) == "model broke"
    assert [p.label for p in served] == ["good"] and [p.label for p in later] == ["later"]


def _call(middleware, headers: dict, chunks: list[bytes]) -> tuple[list[dict], list[bytes]]:
    """Drive an ASGI middleware once; returns what it sent and the body the wrapped app read."""
    sent, read = [], []

    async def app(scope, receive, send):
        more = True
        while more:
            message = await receive()
            read.append(message.get("body", b""))
            more = message.get("more_body", False)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    messages = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]

    async def receive():
        return messages.pop(0)

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/predict_batch", "headers": list(headers.items())}
    asyncio.run(middleware(app)(scope, receive, send))
    return sent, read


def test_request_bodies_over_the_limit_get_413_without_reaching_the_service():
    from sentiment_pipeline.inference.serving import MAX_BODY_BYTES, BodyLimitMiddleware

    big = b"x" * (MAX_BODY_BYTES + 1)
    sent, read = _call(BodyLimitMiddleware, {b"content-length": str(len(big)).encode()}, [b""])
    assert sent[0]["status"] == 413 and read == []  # refused on the declared length, nothing read
    assert b"request body over" in sent[1]["body"]
    sent, read = _call(BodyLimitMiddleware, {}, [big[: MAX_BODY_BYTES // 2]] * 3)  # chunked, no length
    assert sent[0]["status"] == 413 and read == []
    sent, read = _call(BodyLimitMiddleware, {}, [b'{"texts": ', b'["ok"]}'])  # chunked and small: handed on whole
    assert sent[0]["status"] == 200 and b"".join(read) == b'{"texts": ["ok"]}'
    sent, read = _call(BodyLimitMiddleware, {b"content-length": b"17"}, [b'{"texts": ["ok"]}'])
    assert sent[0]["status"] == 200 and read == [b'{"texts": ["ok"]}']


@pytest.mark.parametrize("encoding", [b"gzip", b"GZIP", b"br", b"deflate", b"identity, gzip"])
def test_a_compressed_request_body_gets_415_in_the_json_error_shape_without_reaching_the_service(encoding):
    """A gzip body was handed on and answered 400 "Invalid JSON"; any Content-Encoding but identity is a 415, whose
    body has the shape of the service's other 4xx answers."""
    import gzip
    import json

    from sentiment_pipeline.inference.serving import JsonOnlyMiddleware

    body = gzip.compress(b'{"texts": ["ok"]}')
    headers = {b"content-type": b"application/json", b"content-encoding": encoding}
    sent, read = _call(JsonOnlyMiddleware, headers, [body])
    assert sent[0]["status"] == 415 and read == []
    assert (b"content-type", b"application/json") in sent[0]["headers"]
    answer = json.loads(sent[1]["body"])["error"]
    assert answer["type"] == "unsupported_media_type" and answer["field"] is None, answer
    assert "Content-Encoding" in answer["message"]
    assert encoding.decode().lower().split(",")[-1].strip() in answer["message"]
    not_json, _ = _call(JsonOnlyMiddleware, {b"content-type": b"text/plain"}, [b"hi"])  # the other 415: same shape
    assert not_json[0]["status"] == 415 and json.loads(not_json[1]["body"])["error"]["type"] == "unsupported_media_type"


@pytest.mark.parametrize("encoding", [b"identity", b"Identity", b""])
def test_an_uncompressed_body_declared_identity_is_handed_on(encoding):
    from sentiment_pipeline.inference.serving import JsonOnlyMiddleware

    headers = {b"content-type": b"application/json", b"content-encoding": encoding}
    sent, read = _call(JsonOnlyMiddleware, headers, [b'{"texts": ["ok"]}'])
    assert sent[0]["status"] == 200 and read == [b'{"texts": ["ok"]}']


def test_the_batchers_learned_wait_cannot_stay_at_a_bursts_level():
    """After a burst, BentoML's optimizer averaged waits of hundreds of ms, and each lone request then waited that
    long and was averaged in again: single requests took 120-170 ms for minutes. The wait is capped."""
    from bentoml._internal.marshal.dispatcher import Optimizer

    from sentiment_pipeline.inference.serving import MAX_CORK_WAIT_S, capped_optimizer

    uncapped, capped = Optimizer(1.0), capped_optimizer(1.0)
    for optimizer in (uncapped, capped):
        for _ in range(60):  # a burst's calls: 8 texts each, queued 300 ms
            optimizer.log_outbound(n=8, wait=0.3, duration=0.006)
        optimizer.trigger_refresh()
    assert uncapped.wait > 0.25  # what BentoML alone keeps
    assert capped.wait <= MAX_CORK_WAIT_S
    assert capped.o_a == pytest.approx(uncapped.o_a)  # the model's cost estimate is untouched


def test_client_errors_and_shed_load_are_logged_on_one_line_and_bugs_keep_their_traceback():
    import logging

    from bentoml.exceptions import ServiceUnavailable
    from pydantic import BaseModel, ValidationError

    from sentiment_pipeline.inference.serving import ClientErrorsOnOneLine

    class Input(BaseModel):
        text: str

    def logged(error: BaseException) -> logging.LogRecord:
        try:
            raise error
        except BaseException:
            import sys

            request = ("/predict", "POST")
            record = logging.LogRecord("x", logging.ERROR, __file__, 1, "Exception on %s [%s]", request, sys.exc_info())
        assert ClientErrorsOnOneLine().filter(record)
        return record

    try:
        Input.model_validate_json(b'{"text": 5')
    except ValidationError as exc:
        invalid = exc
    record = logged(invalid)
    assert record.exc_info is None and record.levelno == logging.WARNING
    assert record.getMessage().startswith("Exception on /predict [POST] -> 400 ValidationError: 1 validation error")
    assert "\n" not in record.getMessage()
    shed = logged(ServiceUnavailable("process is overloaded")).getMessage()
    assert shed.endswith("-> 503 ServiceUnavailable: process is overloaded")
    bug = logged(ZeroDivisionError("a bug"))
    assert bug.exc_info is not None and bug.levelno == logging.ERROR  # a 500 keeps its traceback


def test_batch_requests_queue_within_their_budget_where_predicts_would_be_shed(monkeypatch):
    """Four clients of 256 texts on a slow model: /predict's 1 s budget sheds some (503), /predict_batch's does not.
    A batch request is a batch already; it must not be shed below real overload.

    The model call costs nothing but moves the batcher's clock 0.4 s ahead, so the outcome does not depend on how
    busy the machine is."""
    import threading
    import time
    import types

    from bentoml._internal.marshal import dispatcher
    from bentoml.exceptions import ServiceUnavailable

    from sentiment_pipeline.inference.serving import BATCH_LATENCY_MS, PREDICT_LATENCY_MS, adaptive_batching

    ahead, lock = [0.0], threading.Lock()
    monkeypatch.setattr(dispatcher, "time", types.SimpleNamespace(time=lambda: time.time() + ahead[0]))

    def slow_model(texts):  # 0.4 s per 256 texts on the batcher's clock: four queued requests wait up to 1.2 s
        with lock:
            ahead[0] += 0.4
        return [text.upper() for text in texts]

    def shed(latency_ms: int) -> int:
        async def main():
            classify = adaptive_batching(slow_model, 256, latency_ms)
            failures = 0
            for _ in range(4):  # rounds of four clients sending 256 texts each at once
                outcomes = await asyncio.gather(*(classify(["t"] * 256) for _ in range(4)), return_exceptions=True)
                failures += sum(isinstance(o, ServiceUnavailable) for o in outcomes)
                assert all(o == ["T"] * 256 for o in outcomes if not isinstance(o, BaseException))
            return failures

        return asyncio.run(main())

    assert shed(BATCH_LATENCY_MS) == 0
    assert shed(PREDICT_LATENCY_MS) > 0  # why /predict_batch needs its own budget


def test_bentomls_400_and_plain_errors_are_answered_in_the_one_error_shape():
    """BentoML answers a refused input with pydantic's list ({"error": "1 validation error for Input", "detail":
    [...]}), the middlewares with one string: a client had two shapes to parse."""
    import json

    from sentiment_pipeline.inference.serving import ErrorShapeMiddleware, reshaped_error

    pydantic_body = json.dumps(
        {
            "error": "2 validation errors for Input",
            "detail": [
                {"type": "value_error", "loc": ["texts", 3], "msg": "Value error, text must not be blank"},
                {"type": "string_too_long", "loc": ["texts", 4], "msg": "String should have at most 2000 characters"},
            ],
        }
    ).encode()
    assert json.loads(reshaped_error(400, pydantic_body)) == {
        "error": {"type": "value_error", "message": "text must not be blank (and 1 more)", "field": "texts.3"}
    }
    assert json.loads(reshaped_error(404, b"Not Found")) == {
        "error": {"type": "client_error", "message": "Not Found", "field": None}
    }
    shaped = b'{"error": {"type": "payload_too_large", "message": "over", "field": null}}'
    assert reshaped_error(413, shaped) == shaped

    async def bentoml_400(scope, receive, send):
        await send({"type": "http.response.start", "status": 400, "headers": [(b"content-length", b"9")]})
        await send({"type": "http.response.body", "body": pydantic_body[:20], "more_body": True})
        await send({"type": "http.response.body", "body": pydantic_body[20:]})

    sent = []

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/predict_batch", "headers": []}
    asyncio.run(ErrorShapeMiddleware(bentoml_400)(scope, None, send))
    assert sent[0]["status"] == 400 and (b"content-length", str(len(sent[1]["body"])).encode()) in sent[0]["headers"]
    assert json.loads(sent[1]["body"])["error"]["field"] == "texts.3" and len(sent) == 2


def test_the_api_document_names_the_service_its_model_and_the_error_shape():
    from sentiment_pipeline.inference.serving import API_TITLE, ApiDocsMiddleware

    spec = {
        "info": {"title": "TweetSentiment", "version": "None"},
        "paths": {path: {"post": {"responses": {"400": {}}}} for path in ("/predict", "/predict_batch")},
    }
    docs = ApiDocsMiddleware(None, model_tag="tweet_sentiment:no-such-model-here").document(spec)
    assert docs["info"]["title"] == API_TITLE and docs["info"]["version"] == "tweet_sentiment:no-such-model-here"
    assert "error" in docs["components"]["schemas"]["Error"]["properties"]
    for path in ("/predict", "/predict_batch"):
        for status in ("400", "413", "415"):
            schema = docs["paths"][path]["post"]["responses"][status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/Error"}
