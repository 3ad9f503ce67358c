"""Export the trained Keras model to ONNX (``model/model.onnx``) and prove the export answers like the original.

tf2onnx converts a ``tf.function`` with the predictor's fixed input signature, the graph the predictor runs. The
check runs both models on the run's whole test split: a run whose export disagrees fails, like any failing cell.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..inference import ONNX_FILE
from ..inference.onnx_model import OnnxModel
from .tensorflow_runtime import keras, tf

OPSET = 17
PARITY_ATOL = 1e-5  # max absolute difference of any class probability; argmax must agree everywhere


class OnnxParityError(AssertionError):
    """The ONNX export does not answer like the Keras model: the run must not be recorded as succeeded."""


def export_onnx(model: keras.Model, path: str | Path) -> Path:
    """Write ``model`` as ONNX to ``path``; its inputs keep the Keras input names, its output is the probabilities."""
    import tf2onnx

    logging.getLogger("tf2onnx").setLevel(logging.ERROR)  # per-pass INFO/WARNING lines would fill the report
    names = sorted(model.input)
    signature = [tf.TensorSpec([None, model.input[n].shape[1]], tf.int32, name=n) for n in names]
    function = tf.function(
        lambda *ids: model(dict(zip(names, ids, strict=True)), training=False), input_signature=signature
    )
    path = Path(path)
    tf2onnx.convert.from_function(function, input_signature=signature, opset=OPSET, output_path=str(path))
    return path


def parity(expected: np.ndarray, actual: np.ndarray, atol: float = PARITY_ATOL) -> dict:
    """How closely ``actual`` (ONNX) matches ``expected`` (Keras) probabilities, as metrics.json records it."""
    if expected.shape != actual.shape:
        raise OnnxParityError(f"ONNX output shape {actual.shape} differs from Keras {expected.shape}")
    max_abs_diff = float(np.abs(expected - actual).max()) if expected.size else 0.0
    argmax_agrees = bool((expected.argmax(axis=1) == actual.argmax(axis=1)).all()) if expected.size else True
    return {
        "n": int(expected.shape[0]),
        "max_abs_diff": max_abs_diff,
        "argmax_agrees": argmax_agrees,
        "atol": atol,
        "opset": OPSET,
        "passed": max_abs_diff <= atol and argmax_agrees,
    }


def export_and_check(model: keras.Model, model_dir: str | Path, inputs: dict, expected: np.ndarray) -> dict:
    """Export to ``model_dir/model.onnx``, run it on ``inputs`` (the test split, encoded) and compare with the Keras
    probabilities ``expected``; raises OnnxParityError (the run fails) unless they agree."""
    path = export_onnx(model, Path(model_dir) / ONNX_FILE)
    result = parity(expected, OnnxModel(path).predict_proba(inputs))
    if not result["passed"]:
        raise OnnxParityError(
            f"ONNX export disagrees with the Keras model on the test split: max |dp| {result['max_abs_diff']:.2e} "
            f"(allowed {PARITY_ATOL:.0e}), argmax agrees everywhere: {result['argmax_agrees']}"
        )
    return result


def export_recorded_model(model_dir: str | Path, test_texts: list[str]) -> dict:
    """For a run recorded before runs exported ONNX: export its saved ``model.keras`` into ``model_dir`` and check
    it against Keras on the run's own test split, as training now does."""
    from .keras_predictor import load_keras_predictor

    predictor = load_keras_predictor(model_dir)
    expected = predictor.predict_proba(test_texts)
    inputs = predictor.tokenizer.encode(test_texts)
    return export_and_check(predictor.model.keras_model, model_dir, inputs, expected)
