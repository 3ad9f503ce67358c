"""Export the trained Keras model to ONNX (``model/model.onnx``) and prove the export answers like the original.

tf2onnx converts a ``tf.function`` with the predictor's fixed input signature, the graph the predictor runs. The
check runs both models on the run's whole test split: a run whose export disagrees fails, like any failing cell.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import onnx

from ..inference import ONNX_FILE
from ..inference.onnx_model import OnnxModel
from ..inference.predictor import predict_in_chunks
from .memory import release_memory
from .tensorflow_runtime import keras, tf

OPSET = 17
TF2ONNX_CATCH_ERRORS = "TF2ONNX_CATCH_ERRORS"  # tf2onnx.constants.ENV_TF2ONNX_CATCH_ERRORS
PARITY_ATOL = 1e-5  # max absolute difference of any class probability; argmax must agree everywhere


class OnnxParityError(AssertionError):
    """The ONNX export does not answer like the Keras model: the run must not be recorded as succeeded."""


def _convert(model: keras.Model) -> onnx.ModelProto:
    """One Keras model (a member, or a model without members) as ONNX, inputs named as the Keras inputs."""
    import tf2onnx

    logging.getLogger("tf2onnx").setLevel(logging.ERROR)  # per-pass INFO/WARNING lines would fill the report
    names = sorted(model.input)
    signature = [tf.TensorSpec([None, model.input[n].shape[1]], tf.int32, name=n) for n in names]
    function = tf.function(
        lambda *ids: model(dict(zip(names, ids, strict=True)), training=False), input_signature=signature
    )
    # tf2onnx runs each of its optimizer passes on a deep copy of the graph, constants included, to fall back to the
    # graph before the pass if it raises; the copies are garbage the collector reaches late (350 MB of a member's
    # 1.15 GB at 200,000 tweets). Without the fallback a failing pass fails the export, and so the run, loudly.
    previous = os.environ.get(TF2ONNX_CATCH_ERRORS)
    os.environ[TF2ONNX_CATCH_ERRORS] = "FALSE"
    try:
        proto, _ = tf2onnx.convert.from_function(function, input_signature=signature, opset=OPSET)
    finally:
        if previous is None:
            os.environ.pop(TF2ONNX_CATCH_ERRORS, None)
        else:
            os.environ[TF2ONNX_CATCH_ERRORS] = previous
    return proto


def members(model: keras.Model) -> list[keras.Model]:
    """The members an averaged model (``model.average_members``) is made of, or ``[model]``."""
    found = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    averaged = any(isinstance(layer, keras.layers.Average) for layer in model.layers)
    return found if averaged and len(found) > 1 else [model]


def _average(parts: list[onnx.ModelProto]) -> onnx.ModelProto:
    """One ONNX model feeding the same inputs to every part and answering the mean of their outputs, as Keras's
    ``Average`` layer does. Each part's names get a ``m<i>/`` prefix; its inputs are wired to the shared ones."""
    from onnx import compose, helper

    shared = {entry.name: entry for entry in parts[0].graph.input}
    nodes, initializers, value_info, outputs = [], [], [], []
    for index, part in enumerate(parts):
        prefixed = compose.add_prefix(part, f"m{index}/")
        graph = prefixed.graph
        for entry in graph.input:  # m<i>/words <- words
            nodes.append(helper.make_node("Identity", [entry.name.split("/", 1)[1]], [entry.name]))
        nodes.extend(graph.node)
        initializers.extend(graph.initializer)
        value_info.extend(graph.value_info)
        outputs.append(graph.output[0].name)
    output = parts[0].graph.output[0]
    nodes.append(helper.make_node("Mean", outputs, [output.name], name="label"))
    graph = helper.make_graph(
        nodes, "tweet_sentiment", list(shared.values()), [output], initializer=initializers, value_info=value_info
    )
    merged = helper.make_model(graph, opset_imports=parts[0].opset_import, producer_name=parts[0].producer_name)
    merged.ir_version = parts[0].ir_version
    return merged


def export_onnx(model: keras.Model, path: str | Path) -> Path:
    """Write ``model`` as ONNX to ``path``; its inputs keep the Keras input names, its output is the probabilities.

    An averaged model is converted member by member and the members joined into one graph with ONNX's ``Mean``:
    tf2onnx's conversion takes dozens of times the size of the graph it converts (grappler, then its own passes over
    copies); converting the four members at once took 2.3 GB above the kernel's level for the full-data model and
    5.9 GB at 200,000 tweets, one member at a time with the garbage released in between about 0.8 GB."""
    parts = []
    for member in members(model):
        parts.append(_convert(member))
        release_memory()
    merged = parts[0] if len(parts) == 1 else _average(parts)
    path = Path(path)
    onnx.save(merged, str(path))
    release_memory()
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
    result = parity(expected, predict_in_chunks(OnnxModel(path), inputs))
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


def export_older_run(store, run_id: str, model_dir: str | Path, manifest: dict) -> dict:
    """Registration's export (``deploy.registry``, handed this by the CLI): a run recorded before runs exported ONNX
    gets its ``model.onnx`` in ``model_dir``, checked on the run's recorded test split (read against its manifest)."""
    import csv
    import io

    from ..records import record

    split = record.read_verified(store, run_id, record.split_path("test"), manifest).decode("utf-8")
    return export_recorded_model(model_dir, [row["text"] for row in csv.DictReader(io.StringIO(split))])
