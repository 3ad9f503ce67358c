"""BentoML service for the tweet sentiment model.

Each worker loads the run's ONNX export once and answers through ONNX Runtime (no TensorFlow in the image);
concurrent requests are grouped into one model call by BentoML's adaptive batcher running inside the worker
(no second HTTP hop to a model service). Text is cleaned and tokenized by the same package code the model was
trained with. With SENTIMENT_CAPTURE_URI set, each answer is also captured off the request path (docs/monitoring.md).

    bentoml serve service:TweetSentiment      # model: $SENTIMENT_MODEL_TAG or tweet_sentiment:latest
"""

from __future__ import annotations

import gc
import logging
import os

import bentoml

from sentiment_pipeline.errors import ConfigError
from sentiment_pipeline.inference.capture import Capture, capture_settings, request_id
from sentiment_pipeline.inference.predictor import load_predictor
from sentiment_pipeline.inference.serving import (
    BATCH_LATENCY_MS,
    PREDICT_LATENCY_MS,
    ApiDocsMiddleware,
    BodyLimitMiddleware,
    ClientErrorsOnOneLine,
    ErrorShapeMiddleware,
    JsonOnlyMiddleware,
    Prediction,
    SentimentPredictor,
    Text,
    Texts,
    adaptive_batching,
    available_cpus,
    threads_per_worker,
)

MODEL_TAG = os.environ.get("SENTIMENT_MODEL_TAG", "tweet_sentiment:latest")
# One worker per core with one ONNX Runtime thread each by default: batches are small, so a runtime's own thread
# pool would only contend with the other workers. SENTIMENT_WORKERS=1 gives one worker all the cores instead.
CPUS = available_cpus()
WORKERS = int(os.environ.get("SENTIMENT_WORKERS") or CPUS)
THREADS = threads_per_worker(WORKERS, CPUS)
# Capture of every answer (docs/monitoring.md): off unless SENTIMENT_CAPTURE_URI is set; a bad setting stops the
# service at start-up with one line.
try:
    CAPTURE = capture_settings()
except ConfigError as error:
    raise SystemExit(f"error: {error}") from None


# Per-request work besides answering, measured with py-spy once ONNX Runtime made the model cheap (CHANGELOG.md,
# 2026-11-26): BentoML's OpenTelemetry middleware took a third of a /predict's CPU even with no exporter configured
# (nothing is sampled), and the access line another tenth, while the load balancer already logs every request.
# SENTIMENT_TRACE_REQUESTS=1 and SENTIMENT_ACCESS_LOG=1 turn them back on.
OBSERVABILITY = {"logging": {"access": {"enabled": os.environ.get("SENTIMENT_ACCESS_LOG") == "1"}}}
if os.environ.get("SENTIMENT_TRACE_REQUESTS") != "1":
    OBSERVABILITY["tracing"] = {"excluded_urls": ["/predict", "/predict_batch"]}


# timeout: BentoML keeps each request's timer (and the tracing context it captured) alive for the whole timeout,
# so at ~1,000 requests/s a 30 s timeout left ~30,000 requests' objects for every gen-2 garbage collection to
# walk, which set the p99; 5 s is far above any healthy answer (the batcher sheds at 1 s).
@bentoml.service(workers=WORKERS, traffic={"timeout": 5, "max_concurrency": 1024}, **OBSERVABILITY)
class TweetSentiment:
    model = bentoml.models.BentoModel(MODEL_TAG)

    def __init__(self) -> None:
        self.predictor = SentimentPredictor(load_predictor(self.model.path, threads=THREADS), str(self.model.tag))
        # Calls arriving while the model is busy share its next call (up to 256 texts); the budgets (serving.py)
        # queue a burst rather than shed it, and a /predict_batch request, a batch already, gets the longer one.
        self.classify = adaptive_batching(self.predictor.predict, 256, PREDICT_LATENCY_MS)
        self.classify_batch = adaptive_batching(self.predictor.predict, 256, BATCH_LATENCY_MS)
        self.capture = Capture(CAPTURE, self.predictor.tag, self.predictor.predictor.tokenizer) if CAPTURE else None
        logging.getLogger(ClientErrorsOnOneLine.LOGGER).addFilter(ClientErrorsOnOneLine())
        # Keep the import-time heap (BentoML and its web stack: hundreds of thousands of objects) out of the garbage
        # collector: otherwise full collections stall a worker for tens of ms every few hundred requests (p99).
        gc.freeze()

    @bentoml.api
    async def predict(self, text: Text, ctx: bentoml.Context) -> Prediction:
        """Label one tweet: {"text": "..."} -> {"label", "scores", "model"}."""
        [prediction] = await self.classify([text])
        if self.capture:
            self.capture.record("predict", [text], [prediction], request_id(ctx))
        return prediction

    @bentoml.api
    async def predict_batch(self, texts: Texts, ctx: bentoml.Context) -> list[Prediction]:
        """Label up to 256 tweets in one request; results are in input order."""
        predictions = await self.classify_batch(texts)
        if self.capture:
            self.capture.record("predict_batch", texts, predictions, request_id(ctx))
        return predictions

    @bentoml.on_shutdown
    def flush_capture(self) -> None:
        """Graceful shutdown: write what the capture still holds."""
        if self.capture:
            self.capture.close()


TweetSentiment.add_asgi_middleware(JsonOnlyMiddleware)
TweetSentiment.add_asgi_middleware(BodyLimitMiddleware)
TweetSentiment.add_asgi_middleware(ErrorShapeMiddleware)  # every 4xx above and BentoML's own in one shape
TweetSentiment.add_asgi_middleware(ApiDocsMiddleware, model_tag=MODEL_TAG)
