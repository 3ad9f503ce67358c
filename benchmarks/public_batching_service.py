"""service.py's contract built on BentoML's public batching API alone: what `make bench-serving` measures beside the
shipped service, whose in-worker batcher is BentoML's internal CorkDispatcher (serving.adaptive_batching).

    SENTIMENT_MODEL_TAG=<tag> bentoml serve benchmarks.public_batching_service:TweetSentiment
    SENTIMENT_MODEL_TAG=<tag> bentoml serve benchmarks.public_batching_service:TweetSentimentTwoServices

Both answer POST /predict {"text": "..."} with one prediction and POST /predict_batch {"texts": [...]} with a list,
with service.py's limits, error shape, middlewares, workers, ONNX Runtime threads and latency budgets.

``TweetSentiment``: one service whose /predict and /predict_batch are ``@bentoml.api(batchable=True)`` themselves,
so requests are batched in the worker that parsed them, with no second hop. BentoML batches only over HTTP (a
batchable method called in-process runs unbatched), hands the batched function one list and answers each request
with its slice of the result, so the types carry the single-text contract: /predict's text is validated as
service.py's ``Text`` and then wrapped in a one-text list (its schema stays a string), and its one-prediction slice
is written out as the prediction itself. What differs from service.py is BentoML's own batching path: its
batcher's learned wait for company is not capped (no public setting; see adaptive_batching), and the batched
function runs from BentoML's request handler, its answer written through a root model.

``TweetSentimentTwoServices``: BentoML's documented pattern for a batchable model behind single-item requests, an
HTTP service calling a model service through ``bentoml.depends``. ``bentoml serve`` runs the model service as its
own worker processes behind a Unix socket; each call is an HTTP request with a pickled body. (Where the model
service has no address, as under ``bentoml serve --development``, the dependency is an in-process instance and its
calls run unbatched.)
"""

from __future__ import annotations

import gc
import logging
import os
from typing import Annotated

import bentoml
from pydantic import AfterValidator, PlainSerializer

from sentiment_pipeline.inference.predictor import load_predictor
from sentiment_pipeline.inference.serving import (
    BATCH_LATENCY_MS,
    MAX_BATCH_TEXTS,
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
    _batch_size_histogram,
    available_cpus,
    threads_per_worker,
)
from service import MODEL_TAG, OBSERVABILITY, THREADS, WORKERS

TRAFFIC = {"timeout": 5, "max_concurrency": 1024}  # as service.py's, for the same reason

# A request's one text, validated as service.py's Text, reaches the batcher as a list (what BentoML concatenates)...
OneText = Annotated[Text, AfterValidator(lambda text: [text])]
# ...and its slice of the batch's predictions, a list of one, is written out as that one prediction.
OnePrediction = Annotated[list[Prediction], PlainSerializer(lambda predictions: predictions[0], return_type=Prediction)]


def _untraced(*routes: str) -> dict:
    """service.py's observability settings, with these routes kept out of tracing unless it is turned back on."""
    if "tracing" not in OBSERVABILITY:
        return OBSERVABILITY
    return {**OBSERVABILITY, "tracing": {"excluded_urls": list(routes)}}


class _Labels:
    """The model, loaded once per worker, answering a batch of texts (and counting them on /metrics, as
    service.py's batcher does, in sentiment_batch_size)."""

    model = bentoml.models.BentoModel(MODEL_TAG)

    def __init__(self, threads: int) -> None:
        self.predictor = SentimentPredictor(load_predictor(self.model.path, threads=threads), str(self.model.tag))
        self.batch_sizes = _batch_size_histogram()
        logging.getLogger(ClientErrorsOnOneLine.LOGGER).addFilter(ClientErrorsOnOneLine())
        gc.freeze()  # as service.py: keep the import-time heap out of the garbage collector

    def label(self, texts: list[str]) -> list[Prediction]:
        self.batch_sizes.observe(len(texts))
        return self.predictor.predict(texts)


# threads: BentoML runs a sync API in a thread pool of this size; two let a /predict batch and a /predict_batch
# batch run at once, as service.py's two batchers can.
@bentoml.service(workers=WORKERS, threads=2, traffic=TRAFFIC, **OBSERVABILITY)
class TweetSentiment(_Labels):
    def __init__(self) -> None:
        super().__init__(THREADS)

    @bentoml.api(batchable=True, max_batch_size=MAX_BATCH_TEXTS, max_latency_ms=PREDICT_LATENCY_MS)
    def predict(self, text: OneText) -> OnePrediction:
        """Label one tweet: {"text": "..."} -> {"label", "scores", "model"}."""
        return self.label(text)  # the texts of all the requests in this batch

    @bentoml.api(batchable=True, max_batch_size=MAX_BATCH_TEXTS, max_latency_ms=BATCH_LATENCY_MS)
    def predict_batch(self, texts: Texts) -> list[Prediction]:
        """Label up to 256 tweets in one request; results are in input order."""
        return self.label(texts)


# The model service's workers, as many as the HTTP service's by default (service.py's count), the cores' ONNX Runtime
# threads split between them; SENTIMENT_MODEL_WORKERS=1 gathers every HTTP worker's calls into one batcher instead
# (slower in a short trial: the hop's work then queues behind one process).
MODEL_WORKERS = int(os.environ.get("SENTIMENT_MODEL_WORKERS") or WORKERS)


@bentoml.service(workers=MODEL_WORKERS, threads=2, traffic=TRAFFIC, **_untraced("/classify", "/classify_batch"))
class SentimentModel(_Labels):
    def __init__(self) -> None:
        super().__init__(threads_per_worker(MODEL_WORKERS, available_cpus()))

    @bentoml.api(batchable=True, max_batch_size=MAX_BATCH_TEXTS, max_latency_ms=PREDICT_LATENCY_MS)
    def classify(self, texts: list[str]) -> list[Prediction]:
        return self.label(texts)

    @bentoml.api(batchable=True, max_batch_size=MAX_BATCH_TEXTS, max_latency_ms=BATCH_LATENCY_MS)
    def classify_batch(self, texts: list[str]) -> list[Prediction]:
        return self.label(texts)


@bentoml.service(workers=WORKERS, traffic=TRAFFIC, **OBSERVABILITY)
class TweetSentimentTwoServices:
    model = bentoml.depends(SentimentModel)

    def __init__(self) -> None:
        logging.getLogger(ClientErrorsOnOneLine.LOGGER).addFilter(ClientErrorsOnOneLine())
        gc.freeze()

    @bentoml.api
    async def predict(self, text: Text) -> Prediction:
        """Label one tweet: {"text": "..."} -> {"label", "scores", "model"}."""
        [prediction] = await self.model.to_async.classify([text])
        return prediction

    @bentoml.api
    async def predict_batch(self, texts: Texts) -> list[Prediction]:
        """Label up to 256 tweets in one request; results are in input order."""
        return await self.model.to_async.classify_batch(texts)


for _service in (TweetSentiment, TweetSentimentTwoServices):
    _service.add_asgi_middleware(JsonOnlyMiddleware)
    _service.add_asgi_middleware(BodyLimitMiddleware)
    _service.add_asgi_middleware(ErrorShapeMiddleware)
    _service.add_asgi_middleware(ApiDocsMiddleware, model_tag=MODEL_TAG)
