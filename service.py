"""BentoML service for the tweet sentiment model.

`SentimentModel` holds the model and answers batches (BentoML's adaptive batching groups concurrent
requests into one compiled TensorFlow call); `TweetSentiment` is the HTTP API in front of it.
Text is cleaned and tokenized by the same package code the model was trained with.

    bentoml serve service:TweetSentiment      # model: $SENTIMENT_MODEL_TAG or tweet_sentiment:latest
"""

from __future__ import annotations

import gc
import os

import bentoml

from sentiment_pipeline.serving import JsonOnlyMiddleware, Prediction, SentimentPredictor, Text, Texts

MODEL_TAG = os.environ.get("SENTIMENT_MODEL_TAG", "tweet_sentiment:latest")
# The model's batches are small and the HTTP worker needs a core too: TensorFlow's own thread pools only add
# contention (on 2 cores: more requests/s and a shorter p99 at 32 clients under wrk). Read when TF starts.
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")


@bentoml.service(workers=1, traffic={"timeout": 30, "max_concurrency": 1024})
class SentimentModel:
    model = bentoml.models.BentoModel(MODEL_TAG)

    def __init__(self) -> None:
        self.predictor = SentimentPredictor(self.model.path, str(self.model.tag))
        gc.freeze()  # see TweetSentiment.__init__

    # One compiled call takes ~3 ms for one text and ~11 ms for 256, so waiting a few ms to fill a batch
    # pays off; the latency budget is generous so a burst is queued rather than shed with a 503.
    @bentoml.api(batchable=True, max_batch_size=256, max_latency_ms=1000)
    def classify(self, texts: list[str]) -> list[Prediction]:
        return self.predictor.predict(texts)


@bentoml.service(workers=1, traffic={"timeout": 30, "max_concurrency": 1024})
class TweetSentiment:
    model = bentoml.depends(SentimentModel)

    def __init__(self) -> None:
        # Keep the import-time heap (TensorFlow, BentoML: millions of objects) out of the garbage collector:
        # otherwise full collections stall a worker for 100-250 ms every few hundred requests (measured p99).
        gc.freeze()

    @bentoml.api
    async def predict(self, text: Text) -> Prediction:
        """Label one tweet: {"text": "..."} -> {"label", "scores", "model"}."""
        [prediction] = await self.model.to_async.classify([text])
        return prediction

    @bentoml.api
    async def predict_batch(self, texts: Texts) -> list[Prediction]:
        """Label up to 256 tweets in one request; results are in input order."""
        return await self.model.to_async.classify(texts)


TweetSentiment.add_asgi_middleware(JsonOnlyMiddleware)
