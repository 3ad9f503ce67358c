"""The production service (service.py) answering through the Keras model instead of ONNX Runtime: the comparison
`make bench-serving` runs. Same API, limits, batcher and worker count; only the model's runtime differs.

    KERAS_MODEL_DIR=<run>/model SENTIMENT_MODEL_TAG=<tag> bentoml serve benchmarks.tensorflow_service:TweetSentiment

BentoML's workers import this module (the import string it was served by), so each swaps the loader before
service.TweetSentiment builds its predictor. The registered model holds no model.keras: KERAS_MODEL_DIR points at
the run record's model folder.
"""

from __future__ import annotations

import os

# One TensorFlow thread per worker, as the TensorFlow service ran (read when TensorFlow starts).
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")

import service  # noqa: E402
from sentiment_pipeline.training.keras_predictor import load_keras_predictor  # noqa: E402

service.load_predictor = lambda _model_path, threads: load_keras_predictor(os.environ["KERAS_MODEL_DIR"])
TweetSentiment = service.TweetSentiment
