"""A trained run's model folder as a predictor: text in, labels and probabilities out, with no TensorFlow.

Serving runs ``model.onnx`` with ONNX Runtime; training and the CLI wrap the Keras model in the same
``Predictor`` (``training/keras_predictor.py``), so both clean, tokenize and format answers with this code.
The tokenizer and labels are JSON and the model is ONNX: nothing here unpickles anything.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from . import LABELS_FILE, ONNX_FILE, TOKENIZER_FILE
from .onnx_model import OnnxModel
from .tokenizer import TweetTokenizer


class MissingOnnxModel(FileNotFoundError):
    """A model folder without ``model.onnx``: registered before runs exported one."""


class ProbabilityModel(Protocol):
    """What a predictor runs: tokenizer-encoded inputs in, class probabilities out."""

    input_names: list[str]

    def predict_proba(self, inputs: dict[str, np.ndarray]) -> np.ndarray: ...


# Rows per model call when a caller passes many: a model's activations grow with the rows of one call (per member, the
# word embeddings alone are rows x 40 x 128 floats): a 200,000-tweet run's 20,000-row test split in one Keras call
# took the kernel from 2.9 to 7.9 GB. The service's batches are far smaller; 1,024 rows already run at full speed.
CHUNK_ROWS = 1024


def predict_in_chunks(model: ProbabilityModel, inputs: dict[str, np.ndarray], rows: int = CHUNK_ROWS) -> np.ndarray:
    """``model.predict_proba`` over encoded ``inputs`` ``rows`` at a time, concatenated."""
    total = len(next(iter(inputs.values())))
    if total <= rows:
        return model.predict_proba(inputs)
    chunks = [{name: ids[start : start + rows] for name, ids in inputs.items()} for start in range(0, total, rows)]
    return np.concatenate([model.predict_proba(chunk) for chunk in chunks])


class Predictor:
    """Model + tokenizer + labels: the model's runtime (ONNX Runtime or Keras) is the only thing that varies."""

    def __init__(self, model: ProbabilityModel, tokenizer: TweetTokenizer, labels: Sequence[str]) -> None:
        self.model, self.tokenizer, self.labels = model, tokenizer, list(labels)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities, one row per text, columns in ``self.labels`` order; any number of texts, in chunks
        of ``CHUNK_ROWS`` (the memory a call takes does not grow with them)."""
        if len(texts) == 0:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        return predict_in_chunks(self.model, self.tokenizer.encode(texts))

    def predict(self, texts: Sequence[str]) -> list[dict]:
        """``[{"label": ..., "scores": {label: p}}]`` in input order."""
        return [
            {
                "label": self.labels[int(row.argmax())],
                "scores": {label: round(float(p), 6) for label, p in zip(self.labels, row, strict=False)},
            }
            for row in self.predict_proba(texts)
        ]


def read_tokenizer_and_labels(model_dir: str | Path) -> tuple[TweetTokenizer, list[str]]:
    model_dir = Path(model_dir)
    tokenizer = TweetTokenizer.from_json((model_dir / TOKENIZER_FILE).read_text(encoding="utf-8"))
    labels = json.loads((model_dir / LABELS_FILE).read_text(encoding="utf-8"))["labels"]
    return tokenizer, labels


def load_predictor(model_dir: str | Path, threads: int = 1) -> Predictor:
    """Load a model folder (model.onnx, tokenizer.json, labels.json) for ONNX Runtime with ``threads`` threads."""
    model_dir = Path(model_dir)
    if not (model_dir / ONNX_FILE).is_file():
        raise MissingOnnxModel(
            f"{model_dir} has no {ONNX_FILE}: the model was registered before runs exported ONNX; register the run "
            "again (`sentiment-pipeline register --run-id <run id>` exports it, checked on the run's test split)"
        )
    return Predictor(OnnxModel(model_dir / ONNX_FILE, threads=threads), *read_tokenizer_and_labels(model_dir))
