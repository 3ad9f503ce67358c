"""What the BentoML service needs besides BentoML: request limits, response shape, model loading, batching.

Kept out of ``service.py`` so it is unit-testable and so the service file stays a screenful.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from functools import cache
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field

from .predictor import Predictor

MAX_TEXT_CHARS = 2_000  # tweets are at most 280 characters; this leaves room for pasted text
MAX_BATCH_TEXTS = 256  # per /predict_batch request: one model call (~0.6 ms a tweet on a core, full-data model)
# The largest valid request: 256 texts of 2,000 characters, each escaped as \uXXXX in JSON (6 bytes), is 3.1 MB.
MAX_BODY_BYTES = 4 * 1024 * 1024
ROUTES = ("/predict", "/predict_batch")  # the answering routes


def _not_blank(text: str) -> str:
    if not text.strip():
        raise ValueError("text must contain at least one non-whitespace character")
    return text


Text = Annotated[
    str,
    Field(min_length=1, max_length=MAX_TEXT_CHARS, description=f"a tweet, 1 to {MAX_TEXT_CHARS} characters"),
    AfterValidator(_not_blank),
]
Texts = Annotated[
    list[Text],
    Field(min_length=1, max_length=MAX_BATCH_TEXTS, description=f"1 to {MAX_BATCH_TEXTS} tweets"),
]


class Prediction(BaseModel):
    label: str = Field(description="negative, neutral or positive")
    scores: dict[str, float] = Field(description="probability per label")
    model: str = Field(description="BentoML model tag that answered")


class SentimentPredictor:
    """A loaded predictor answering with the API's ``Prediction`` objects, tagged with the model that answered."""

    def __init__(self, predictor: Predictor, tag: str) -> None:
        self.predictor, self.tag = predictor, tag
        self.predictor.predict_proba(["warm up"])  # the first call allocates the runtime's buffers

    def predict(self, texts: list[str]) -> list[Prediction]:
        return [Prediction(**p, model=self.tag) for p in self.predictor.predict(texts)]


def available_cpus() -> int:
    """CPUs this process may use: its CPU affinity, capped by a cgroup v2 quota (``--cpus``, an ECS task's ``cpu``)."""
    cpus = len(os.sched_getaffinity(0))
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota != "max":
            cpus = min(cpus, max(1, -(-int(quota) // int(period))))
    except (OSError, ValueError):
        pass
    return cpus


def threads_per_worker(workers: int, cpus: int) -> int:
    """ONNX Runtime threads for each of ``workers`` processes sharing ``cpus``: the cores split between them, at least
    one each (more threads than cores only adds contention)."""
    return max(1, cpus // max(1, workers))


@cache
def _batch_size_histogram():
    # prometheus_client directly, as BentoML 1.4 asks (bentoml.metrics is deprecated); created on first use,
    # inside the worker, so it lands in BentoML's multiprocess registry and on its /metrics.
    from prometheus_client import Histogram

    return Histogram(
        "sentiment_batch_size",
        "Texts per model call after adaptive batching",
        buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
    )


# The batcher's latency budgets: a /predict call is shed with 503 when it would wait longer than 1 s; a
# /predict_batch request, a batch already, may queue 4 s (under the service's 5 s request timeout), so it is shed
# only under real overload (with 1 s, 4 clients of 256 texts were shed on a slow day).
PREDICT_LATENCY_MS = 1000
BATCH_LATENCY_MS = 4000
MAX_CORK_WAIT_S = 0.001  # the longest a call waits for company while the model is idle (see adaptive_batching)


def adaptive_batching(
    predict: Callable[[list[str]], list[Prediction]],
    max_batch_size: int,
    max_latency_ms: int,
    max_cork_wait_s: float = MAX_CORK_WAIT_S,
) -> Callable[[list[str]], Awaitable[list[Prediction]]]:
    """Group concurrent calls into one ``predict`` call with BentoML's own adaptive batcher, in this process.

    It is the ``CorkDispatcher`` that BentoML's server puts in front of a ``batchable=True`` API (same cork
    algorithm, same latency-trained optimizer, same 503 when a call would outwait ``max_latency_ms``). Used
    here, ``/predict`` keeps its one-text JSON contract and no request crosses a second HTTP hop to a model
    service: on two cores that hop cost more CPU than the model (CHANGELOG.md, 2026-11-25). BentoML batches
    a ``batchable=True`` API only for requests that reach it over HTTP (called in-process it runs unbatched),
    and nothing public sets its optimizer. ``make bench-serving`` measures this design against the same contract
    on BentoML's public API alone (benchmarks/public_batching_service.py: ``/predict`` itself batchable, and
    the two-service design through ``bentoml.depends``).
    Each call passes a list of texts (one for /predict, up to 256 for /predict_batch); a list longer than
    the room left in a batch is split across batches and reassembled in order.

    One change to BentoML's optimizer: the time a call waits for company while the model is idle (its learned
    ``wait``, the average wait of recent calls) is capped at ``max_cork_wait_s``. Uncapped, a burst taught it
    waits of hundreds of ms, and as every later lone call then waited that long and was averaged in again, it
    stayed there: after 500 clients, a single request took 120-170 ms for minutes instead of 2 ms (1.6-1.8 ms
    three seconds after the burst with the cap). Under load, batches form while the model is busy, not by
    waiting, so the cap costs no throughput.
    """
    from bentoml._internal.marshal.dispatcher import CorkDispatcher  # pinned bentoml==1.4.30
    from bentoml.exceptions import ServiceUnavailable

    batch_sizes = _batch_size_histogram()

    def overloaded() -> list[Prediction]:
        raise ServiceUnavailable("process is overloaded")

    def run(calls: Sequence[list[str]]) -> list[list[Prediction]]:
        batch = [text for texts in calls for text in texts]
        batch_sizes.observe(len(batch))
        predictions = predict(batch)
        out, start = [], 0
        for texts in calls:
            out.append(predictions[start : start + len(texts)])
            start += len(texts)
        return out

    dispatcher = CorkDispatcher(
        max_latency_in_ms=max_latency_ms, max_batch_size=max_batch_size, fallback=overloaded, get_batch_size=len
    )
    dispatcher.optimizer = capped_optimizer(dispatcher.max_latency, max_cork_wait_s)
    return dispatcher(run)


def capped_optimizer(max_latency_s: float, max_wait_s: float = MAX_CORK_WAIT_S):
    """BentoML's batching optimizer whose learned wait never exceeds ``max_wait_s`` (see adaptive_batching); the
    public API has no setting for that wait."""
    from bentoml._internal.marshal.dispatcher import Optimizer  # pinned bentoml==1.4.30

    class CappedOptimizer(Optimizer):
        def trigger_refresh(self) -> None:
            super().trigger_refresh()
            self.wait = min(self.wait, max_wait_s)

    return CappedOptimizer(max_latency_s)


class JsonOnlyMiddleware:
    """Answer 415 to a POST whose body is not declared JSON, or is declared compressed.

    The API is JSON-only; without this, BentoML hands form and multipart bodies to other parsers, where a
    malformed multipart request ends as a 500 (schemathesis found it) and a form body is half-accepted. Nothing
    decompresses a request body, so a gzip one was parsed as JSON and answered 400 "Invalid JSON": any
    ``Content-Encoding`` but ``identity`` is a 415 naming it.
    """

    def __init__(self, app, paths: tuple[str, ...] = ROUTES) -> None:
        self.app, self.paths = app, paths

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] in self.paths:
            headers = scope.get("headers") or []
            media_type = dict(headers).get(b"content-type", b"").split(b";")[0].strip().lower()
            if media_type not in (b"application/json", b""):
                await _json_error(send, 415, "send the request body as JSON with Content-Type: application/json")
                return
            encodings = [
                coding.strip().lower().decode("latin-1")
                for name, value in headers
                if name == b"content-encoding"
                for coding in value.split(b",")
            ]
            compressed = [coding for coding in encodings if coding not in ("", "identity")]
            if compressed:
                await _json_error(
                    send,
                    415,
                    f"Content-Encoding {', '.join(compressed)} is not supported: send the JSON body uncompressed",
                )
                return
        await self.app(scope, receive, send)


class BodyLimitMiddleware:
    """Answer 413 to a request body over ``max_bytes`` without holding it: a 200 MB body was read whole before.

    A declared Content-Length over the limit is refused before any of the body is read; a chunked body is read
    up to the limit and then handed on, or refused.
    """

    def __init__(self, app, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            if not declared.isdigit() or int(declared) > self.max_bytes:
                await _json_error(send, 413, f"request body over {self.max_bytes:,} bytes")
                return
            await self.app(scope, receive, send)
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > self.max_bytes:
                await _json_error(send, 413, f"request body over {self.max_bytes:,} bytes")
                return
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)


# The type of an error this service answers itself; a refused field's type is pydantic's (e.g. string_too_short).
ERROR_TYPES = {400: "bad_request", 413: "payload_too_large", 415: "unsupported_media_type"}
ERROR_SCHEMA = {
    "title": "Error",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["type", "message", "field"],
            "properties": {
                "type": {
                    "type": "string",
                    "description": "what went wrong: e.g. json_invalid, missing, "
                    "string_too_short, too_long, payload_too_large, unsupported_media_type",
                },
                "message": {"type": "string", "description": "for a person"},
                "field": {
                    "type": "string",
                    "nullable": True,  # OpenAPI 3.0, as BentoML writes the document
                    "description": "the request field at fault (texts.3 is the fourth text), or null",
                },
            },
        }
    },
}


def error_body(status: int, message: str, error_type: str | None = None, field: str | None = None) -> bytes:
    """The one shape of every 4xx this service answers: ``{"error": {"type", "message", "field"}}``."""
    kind = error_type or ERROR_TYPES.get(status, "client_error")
    return json.dumps({"error": {"type": kind, "message": message, "field": field}}).encode()


def reshaped_error(status: int, body: bytes) -> bytes:
    """A 4xx body BentoML wrote (``{"error": "1 validation error for Input", "detail": [pydantic's errors]}``, or a
    plain message) in the service's one shape; one already in it is kept."""
    try:
        answer = json.loads(body)
    except ValueError:
        return error_body(status, body.decode("utf-8", "replace").strip() or f"HTTP {status}")
    if not isinstance(answer, dict):
        return error_body(status, str(answer))
    if isinstance(answer.get("error"), dict):
        return body
    details = [d for d in answer.get("detail") or [] if isinstance(d, dict)]
    if not details:
        return error_body(status, str(answer.get("error") or answer.get("detail") or f"HTTP {status}"))
    first = details[0]
    field = ".".join(str(part) for part in first.get("loc") or []) or None
    message = str(first.get("msg") or answer.get("error")).removeprefix("Value error, ")  # pydantic's prefix
    if len(details) > 1:
        message += f" (and {len(details) - 1} more)"
    return error_body(status, message, str(first.get("type") or ERROR_TYPES.get(status, "client_error")), field)


class ErrorShapeMiddleware:
    """Every 4xx of the answering routes in one JSON shape, ``{"error": {"type", "message", "field"}}``: BentoML
    answers a refused input with pydantic's list of errors, the middlewares here with their own message; a client
    reads one shape (documented in the OpenAPI document, ``ApiDocsMiddleware``). Other answers pass untouched."""

    def __init__(self, app, paths: tuple[str, ...] = ROUTES) -> None:
        self.app, self.paths = app, paths

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        send_reshaped = _rewriting(send, lambda status: 400 <= status < 500, reshaped_error)
        await self.app(scope, receive, send_reshaped)


_BODY_HEADERS = (b"content-length", b"content-type")


def _rewriting(send, held: Callable[[int], bool], rewrite: Callable[[int, bytes], bytes]):
    """``send`` for an ASGI app whose answers of a ``held`` status are collected whole (a body may come in chunks)
    and sent as ``rewrite(status, body)``, a JSON body with its new length; other answers pass as they come."""
    start: dict | None = None
    chunks: list[bytes] = []

    async def rewriting_send(message: dict) -> None:
        nonlocal start
        if message["type"] == "http.response.start" and held(message["status"]):
            start = message
            return
        if message["type"] != "http.response.body" or start is None:
            await send(message)
            return
        chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        body = rewrite(start["status"], b"".join(chunks))
        headers = [(k, v) for k, v in start.get("headers") or [] if k.lower() not in _BODY_HEADERS]
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return rewriting_send


API_TITLE = "Tweet sentiment"
API_DESCRIPTION = (
    "Labels tweets negative, neutral or positive with the model of one training run (the version is its BentoML "
    'tag). `POST /predict` takes `{"text": "..."}` (1 to 2,000 characters, not blank); `POST /predict_batch` '
    'takes `{"texts": [...]}` (1 to 256 of them) and answers in input order. Bodies are JSON, uncompressed, at '
    'most 4 MB. Every 4xx answers `{"error": {"type", "message", "field"}}`; 503 means the service is '
    "over capacity: retry."
)


class ApiDocsMiddleware:
    """The OpenAPI document (``/docs.json``, what ``/`` shows) describes this service: its title, description and
    version (the served model's tag) instead of BentoML's defaults ("TweetSentiment", version "None" under
    ``bentoml serve``), and the error shape of its 400, 413 and 415 answers."""

    def __init__(self, app, model_tag: str = "", paths: tuple[str, ...] = ROUTES) -> None:
        self.app, self.model_tag, self.paths = app, model_tag, paths
        self._version: str | None = None

    def version(self) -> str:
        if self._version is None:
            try:  # "tweet_sentiment:latest" names a model; the document gives the one it resolves to
                import bentoml

                self._version = str(bentoml.models.get(self.model_tag).tag)
            except Exception:  # noqa: BLE001 - a document without the resolved tag is still a document
                self._version = self.model_tag or "unknown"
        return self._version

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or scope["path"] != "/docs.json":
            await self.app(scope, receive, send)
            return

        def described(_status: int, body: bytes) -> bytes:
            return json.dumps(self.document(json.loads(body))).encode()

        await self.app(scope, receive, _rewriting(send, lambda status: status == 200, described))

    def document(self, spec: dict) -> dict:
        spec["info"] = {"title": API_TITLE, "description": API_DESCRIPTION, "version": self.version()}
        spec.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
        error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        for path in self.paths:
            responses = spec.get("paths", {}).get(path, {}).get("post", {}).get("responses")
            if responses is None:
                continue
            responses["400"] = {
                "description": "A field is missing, empty, blank or too long; or invalid JSON",
                "content": error,
            }
            responses["413"] = {"description": "The body is over 4 MB", "content": error}
            responses["415"] = {"description": "The body is not JSON, or is compressed", "content": error}
        return spec


async def _json_error(send, status: int, error: str) -> None:
    body = error_body(status, error)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class ClientErrorsOnOneLine(logging.Filter):
    """BentoML logs every failed request with a full traceback, a client's malformed JSON (400) and shed load (503)
    included: a burst of bad requests buried the server log. Those become one line naming the request, the status
    and the reason; an unexpected error (500) keeps its traceback.

    Installed on BentoML's request logger (``bentoml._internal.server.http_app``) by the service."""

    LOGGER = "bentoml._internal.server.http_app"

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        status = _client_status(error) if error is not None else None
        if status is not None:
            reason = " ".join(str(error).split())[:300]
            record.msg = f"{record.getMessage()} -> {status} {type(error).__name__}: {reason}"
            record.args, record.exc_info, record.exc_text = (), None, None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def _client_status(error: BaseException) -> int | None:
    """The HTTP status BentoML answers ``error`` with, if it is the client's doing or shed load; else None."""
    from pydantic import ValidationError

    if isinstance(error, ValidationError):
        return 400
    code = getattr(getattr(error, "error_code", None), "value", None)  # BentoMLException
    return code if isinstance(code, int) and (400 <= code < 500 or code == 503) else None
