"""BentoML service for the tweet sentiment model.

Each worker loads the model once and answers through a compiled TensorFlow function; concurrent requests
are grouped into one call by BentoML's adaptive batcher running inside the worker (no second HTTP hop to
a model service). Text is cleaned and tokenized by the same package code the model was trained with.

    bentoml serve service:TweetSentiment      # model: $SENTIMENT_MODEL_TAG or tweet_sentiment:latest
"""

from __future__ import annotations

import gc
import os

import bentoml

from sentiment_pipeline.inference.serving import (
    JsonOnlyMiddleware,
    Prediction,
    SentimentPredictor,
    Text,
    Texts,
    adaptive_batching,
)

MODEL_TAG = os.environ.get("SENTIMENT_MODEL_TAG", "tweet_sentiment:latest")
# One worker per core, and one TensorFlow thread per worker: batches are small, so TensorFlow's own thread
# pools would only contend with the other worker (measured: fewer requests/s, longer p99). Read when TF starts.
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")


# timeout: BentoML keeps each request's timer (and the tracing context it captured) alive for the whole timeout,
# so at ~1,000 requests/s a 30 s timeout left ~30,000 requests' objects for every gen-2 garbage collection to
# walk, which set the p99; 5 s is far above any healthy answer (the batcher sheds at 1 s).
@bentoml.service(workers="cpu_count", traffic={"timeout": 5, "max_concurrency": 1024})
class TweetSentiment:
    model = bentoml.models.BentoModel(MODEL_TAG)

    def __init__(self) -> None:
        self.predictor = SentimentPredictor(self.model.path, str(self.model.tag))
        # One compiled call takes ~3 ms for one text and ~11 ms for 256, so waiting a few ms to fill a batch
        # pays off; the latency budget is generous so a burst is queued rather than shed with a 503.
        self.classify = adaptive_batching(self.predictor.predict, max_batch_size=256, max_latency_ms=1000)
        # Keep the import-time heap (TensorFlow, BentoML: millions of objects) out of the garbage collector:
        # otherwise full collections stall a worker for 100-250 ms every few hundred requests (measured p99).
        gc.freeze()

    @bentoml.api
    async def predict(self, text: Text) -> Prediction:
        """Label one tweet: {"text": "..."} -> {"label", "scores", "model"}."""
        [prediction] = await self.classify([text])
        return prediction

    @bentoml.api
    async def predict_batch(self, texts: Texts) -> list[Prediction]:
        """Label up to 256 tweets in one request; results are in input order."""
        return await self.classify(texts)


TweetSentiment.add_asgi_middleware(JsonOnlyMiddleware)
