"""The Keras model behind the package's ``Predictor``: what the notebook, the CLI and the ONNX check run.

Serving runs the ONNX export instead (``inference/predictor.py``); both share the tokenizer and answer format.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..inference import MODEL_FILE
from ..inference.predictor import Predictor, read_tokenizer_and_labels
from ..inference.tokenizer import TweetTokenizer
from .tensorflow_runtime import keras, tf


class KerasModel:
    """A Keras model called through a compiled, fixed-signature function.

    ``model.predict`` per request costs ~70 ms on two cores; a ``tf.function`` with a fixed input
    signature runs one example in a few ms and a batch of hundreds in about ten.
    """

    def __init__(self, model: keras.Model) -> None:
        self.keras_model = model
        # The model's own inputs decide what is fed (models from version-1 tokenizers have no "chars").
        self.input_names = sorted(model.input)
        signature = [tf.TensorSpec([None, model.input[n].shape[1]], tf.int32, name=n) for n in self.input_names]
        self._infer = tf.function(
            lambda *ids: model(dict(zip(self.input_names, ids, strict=True)), training=False),
            input_signature=signature,
            reduce_retracing=True,
        )

    def predict_proba(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        return self._infer(*(tf.constant(inputs[name]) for name in self.input_names)).numpy()


def keras_predictor(model: keras.Model, tokenizer: TweetTokenizer, labels: Sequence[str]) -> Predictor:
    return Predictor(KerasModel(model), tokenizer, labels)


def load_keras_predictor(model_dir: str | Path) -> Predictor:
    """Load a run's ``model/`` folder with its native ``.keras`` model (loaded with ``safe_mode``)."""
    model = keras.models.load_model(Path(model_dir) / MODEL_FILE, compile=False, safe_mode=True)
    return Predictor(KerasModel(model), *read_tokenizer_and_labels(model_dir))
