"""Capture: what the service answered, one JSON line per text, written to a folder or an S3 prefix
(docs/monitoring.md). Off unless ``SENTIMENT_CAPTURE_URI`` is set.

The request path only samples and hands the answer to a bounded queue (``Capture.record``); a daemon thread per
worker builds the lines (``records.captures``: the layout and line format the reader takes too), cuts them into
gzip segments by size, age and hour, and writes each finished segment with one store write (``records.store``: a
local folder, or S3 through the store's client with its timeouts and retries). When the queue is full, answers are
dropped and counted, never waited for; a failed write drops its segment and is counted, never fails a request.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import queue
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from types import SimpleNamespace
from typing import Any

from ..errors import ConfigError, StoreError
from ..records.captures import TEXT_MODES, capture_line, encode_segment, model_version, segment_key
from ..records.store import S3Store, Store, open_store

URI_VARIABLE = "SENTIMENT_CAPTURE_URI"  # a folder, file:// or s3:// prefix; unset or empty: capture is off
RATE_VARIABLE = "SENTIMENT_CAPTURE_RATE"  # the share of requests captured, 0 to 1 (default 1)
TEXT_VARIABLE = "SENTIMENT_CAPTURE_TEXT"  # full (default) or hash: sha256, length and token counts instead of text
SEGMENT_S_VARIABLE = "SENTIMENT_CAPTURE_SEGMENT_S"  # SEGMENT_SECONDS, for tests and tuning
SEGMENT_LINES_VARIABLE = "SENTIMENT_CAPTURE_SEGMENT_LINES"  # SEGMENT_LINES, for tests and tuning

# A segment is written when it holds SEGMENT_LINES lines or about SEGMENT_BYTES of JSON, when its first line is
# SEGMENT_SECONDS old, or when the hour changes (so every line lies in the hour folder its segment is named by).
SEGMENT_LINES = 5_000
SEGMENT_BYTES = 4 * 1024 * 1024
SEGMENT_SECONDS = 60.0
# Texts waiting for the writer, per worker: at ~500 requests/s a worker's queue absorbs 40 s of a stalled store.
# Counted in texts, not requests, so 256-text batches cannot hold 256 times the memory.
QUEUE_TEXTS = 20_000
DRAIN_INTERVAL_S = 0.2  # the writer takes what is queued in bulk, not one wake-up per request
CLOSE_TIMEOUT_S = 10.0  # graceful shutdown: at most this long to write what is queued
# Request id headers, first found wins: a caller's own id, else the load balancer's trace id.
REQUEST_ID_HEADERS = ("x-request-id", "x-amzn-trace-id")
_LINE_BYTES = 200  # a line's JSON besides its text, about (the size estimate of a segment)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CaptureSettings:
    uri: str
    rate: float = 1.0
    text: str = "full"
    segment_seconds: float = SEGMENT_SECONDS
    segment_lines: int = SEGMENT_LINES
    segment_bytes: int = SEGMENT_BYTES
    queue_texts: int = QUEUE_TEXTS


def capture_settings(environ: Mapping[str, str] = os.environ) -> CaptureSettings | None:
    """The capture the environment asks for, or None (``SENTIMENT_CAPTURE_URI`` unset or empty). ConfigError, in one
    line, for a value that cannot be used: the service refuses to start rather than capture something else."""
    rate = _number(environ, RATE_VARIABLE, 1.0, "a number from 0 to 1", lambda v: 0 <= v <= 1)
    text = environ.get(TEXT_VARIABLE, "").strip() or "full"
    if text not in TEXT_MODES:
        raise ConfigError(f"{TEXT_VARIABLE} must be one of {', '.join(TEXT_MODES)}, got {text!r}")
    seconds = _number(environ, SEGMENT_S_VARIABLE, SEGMENT_SECONDS, "a number of seconds above 0", lambda v: v > 0)
    lines = _number(environ, SEGMENT_LINES_VARIABLE, SEGMENT_LINES, "a whole number above 0", _whole)
    uri = environ.get(URI_VARIABLE, "").strip()
    if not uri:
        return None
    try:
        open_store(uri)  # names the scheme or bucket problem; makes no folder and no connection
    except StoreError as error:
        raise ConfigError(f"{URI_VARIABLE}: {error}") from None
    return CaptureSettings(uri, rate=rate, text=text, segment_seconds=seconds, segment_lines=int(lines))


def _number(environ: Mapping[str, str], name: str, default: float, what: str, valid) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if math.isnan(value) or not valid(value):
        raise ConfigError(f"{name} must be {what}, got {raw!r}")
    return value


def _whole(value: float) -> bool:
    return math.isfinite(value) and value >= 1 and value == int(value)


def request_id(ctx) -> str | None:
    """The request's id from a ``bentoml.Context``: a header of REQUEST_ID_HEADERS, else BentoML's own id (set
    when the route is traced), else None (the capture then makes one)."""
    try:
        request = ctx.request
    except LookupError:  # not inside a request
        return None
    headers = request.headers
    for name in REQUEST_ID_HEADERS:
        if value := headers.get(name):
            return value[:128]
    own = request.scope.get("request_id")
    return format(own, "016x") if isinstance(own, int) else None


@cache
def _metrics() -> SimpleNamespace:
    # prometheus_client directly, created on first use inside the worker (as serving.py's batch-size histogram), so
    # they land in BentoML's multiprocess registry and on /metrics, summed over the workers.
    from prometheus_client import Counter

    return SimpleNamespace(
        dropped=Counter("sentiment_capture_dropped", "Captured texts dropped because the capture queue was full"),
        lines=Counter("sentiment_capture_lines", "Captured texts written"),
        segments=Counter("sentiment_capture_segments", "Capture segments written"),
        write_errors=Counter("sentiment_capture_write_errors", "Capture segments dropped because the write failed"),
    )


class _TextQueue(queue.Queue):
    """A ``queue.Queue`` whose size (and ``maxsize``) counts texts: an item is (route, texts, ...), at least one."""

    def _init(self, maxsize: int) -> None:
        self.queue: deque = deque()
        self.texts = 0

    def _qsize(self) -> int:
        return self.texts

    def _put(self, item) -> None:
        self.queue.append(item)
        self.texts += max(1, len(item[1]))

    def _get(self):
        item = self.queue.popleft()
        self.texts -= max(1, len(item[1]))
        return item


class Capture:
    """One worker's capture: ``record`` on the request path, a writer thread behind it, ``close`` at shutdown.

    ``tokenizer`` (the served model's) gives the token counts of ``hash`` mode; ``store`` and ``worker`` default to
    the settings' URI and this process's name in segment keys (BentoML's worker index and a random suffix, so
    workers, tasks and restarts never write the same key). ``seed``, ``drain_interval_s``, ``clock``: for tests."""

    def __init__(
        self,
        settings: CaptureSettings,
        model_tag: str,
        tokenizer=None,
        *,
        store: Store | None = None,
        worker: str | None = None,
        seed: int | None = None,
        drain_interval_s: float = DRAIN_INTERVAL_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings, self.model_tag, self.tokenizer = settings, model_tag, tokenizer
        self.version = model_version(model_tag)
        self.store = store or open_store(settings.uri)
        if isinstance(self.store, S3Store):
            _ = self.store.client  # boto3's import and client at start-up, not in the middle of serving
        self.worker = worker or _worker_name()
        self.dropped = self.lines_written = self.segments_written = self.write_errors = 0
        self._metrics = _metrics()
        self._rate, self._random = settings.rate, random.Random(seed).random
        self._queue = _TextQueue(settings.queue_texts)
        self._pending: list[dict[str, Any]] = []
        self._pending_bytes, self._seq = 0, 0
        self._started: float | None = None  # the answer time of the pending segment's first line
        self._due = math.inf  # when the pending segment must be written: its age or the hour's end
        self._closed = threading.Event()
        self._drain_interval_s, self._clock = drain_interval_s, clock
        self._thread = threading.Thread(target=self._run, name="sentiment-capture", daemon=True)
        self._thread.start()

    def record(
        self, route: str, texts: Sequence[str], predictions: Sequence[Any], request_id: str | None = None
    ) -> None:
        """Capture one request's answers (``predictions[i]`` answers ``texts[i]``): sampled (a request's texts all
        or none), queued, never waited for."""
        if self._rate < 1.0 and self._random() >= self._rate:
            return
        if self._closed.is_set():
            return
        try:
            self._queue.put_nowait((route, texts, predictions, request_id, self._clock()))
        except queue.Full:
            self.dropped += len(texts)
            self._metrics.dropped.inc(len(texts))

    def close(self, timeout: float = CLOSE_TIMEOUT_S) -> bool:
        """Write what is queued and stop the writer (graceful shutdown); False if that took over ``timeout``."""
        self._closed.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            logger.warning(
                "capture: still writing after %.0f s at shutdown; %d texts left unwritten",
                timeout,
                self._queue.qsize() + len(self._pending),
            )
            return False
        return True

    # ---- the writer thread --------------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._closed.wait(self._drain_interval_s):
            self._guarded(self._drain)
            if self._clock() >= self._due:
                self._guarded(self._flush)
        self._guarded(self._drain)
        self._guarded(self._flush)

    def _guarded(self, step) -> None:
        try:
            step()
        except Exception:  # a bug here must not stop the writer: the next segments still go out
            logger.exception("capture: unexpected error in the writer")

    def _drain(self) -> None:
        while True:
            try:
                route, texts, predictions, rid, answered = self._queue.get_nowait()
            except queue.Empty:
                return
            when = datetime.fromtimestamp(answered, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            rid = rid or uuid.uuid4().hex
            for text, prediction in zip(texts, predictions, strict=False):
                if answered >= self._due:
                    self._flush()  # its age or the hour ended the pending segment
                self._add(answered, self._line(route, text, prediction, rid, when), len(text))

    def _line(self, route: str, text: str, prediction: Any, rid: str, when: str) -> dict[str, Any]:
        if isinstance(prediction, Mapping):
            label, scores = prediction["label"], prediction["scores"]
        else:
            label, scores = prediction.label, prediction.scores
        full = self.settings.text == "full"
        return capture_line(
            request_id=rid,
            time=when,
            model=self.model_tag,
            route=route,
            text=text if full else None,
            text_facts=None if full else text_facts(text, self.tokenizer),
            label=label,
            scores=scores,
        )

    def _add(self, answered: float, line: dict[str, Any], text_chars: int) -> None:
        if self._started is None:
            self._started = answered
            hour = datetime.fromtimestamp(answered, UTC).replace(minute=0, second=0, microsecond=0)
            self._due = min(answered + self.settings.segment_seconds, (hour + timedelta(hours=1)).timestamp())
        self._pending.append(line)
        self._pending_bytes += _LINE_BYTES + text_chars
        if len(self._pending) >= self.settings.segment_lines or self._pending_bytes >= self.settings.segment_bytes:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        lines, started = self._pending, self._started
        self._pending, self._pending_bytes, self._started, self._due = [], 0, None, math.inf
        key = segment_key(self.version, datetime.fromtimestamp(started, UTC), self.worker, self._seq)
        self._seq += 1
        try:
            self.store.write_bytes(key, encode_segment(lines))
        except Exception as error:  # StoreError, or anything else a store raises: count it, drop the segment
            self.write_errors += 1
            self._metrics.write_errors.inc()
            reason = " ".join(str(error).split())[:300]
            logger.warning(
                "capture: dropped segment %s (%d lines): %s: %s", key, len(lines), type(error).__name__, reason
            )
            return
        self.segments_written += 1
        self.lines_written += len(lines)
        self._metrics.segments.inc()
        self._metrics.lines.inc(len(lines))


def text_facts(text: str, tokenizer=None) -> dict[str, Any]:
    """What ``hash`` mode keeps of a text: its sha256 and length, its tokens after the model's cleaning and how many
    of them the model's vocabulary does not know (None without a tokenizer)."""
    tokens = tokenizer.tokenize([text])[0] if tokenizer is not None else None
    return {
        "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        "length": len(text),
        "tokens": len(tokens) if tokens is not None else None,
        "unknown_tokens": sum(token not in tokenizer.word_index for token in tokens) if tokens is not None else None,
    }


def _worker_name() -> str:
    from bentoml import server_context

    return f"w{server_context.worker_index or 0}.{uuid.uuid4().hex[:6]}"
