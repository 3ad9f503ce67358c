"""The comparison document and the choice of shared texts, on hand-made frames and probabilities (no model)."""

import numpy as np
import pandas as pd
import pytest

from sentiment_pipeline.errors import DatasetError
from sentiment_pipeline.training.run_comparison import (
    RecordedRun,
    comparison_document,
    evaluation_texts,
    probabilities,
    verdict,
)

LABELS = ["negative", "neutral", "positive"]


def _frame(rows):
    return pd.DataFrame(rows, columns=["text", "label_text"])


def _run(run_id, train, val, test, predictor=None):
    splits = {"train": _frame(train), "val": _frame(val), "test": _frame(test)}
    return RecordedRun(run_id, {}, {}, {}, splits, predictor, "onnx")


def test_the_shared_texts_leave_out_anything_either_model_trained_or_validated_on():
    old = _run("old", [("I hate mondays", "negative")], [("meh", "neutral")], [("great day", "positive")])
    # the new run's data grew: its test split holds a tweet the old model trained on (in another case and spacing)
    new = _run(
        "new",
        [("lovely", "positive")],
        [("ok then", "neutral")],
        [("i  HATE mondays", "negative"), ("great day", "positive"), ("awful", "negative")],
    )

    texts, info = evaluation_texts([old, new])

    assert sorted(texts["text"]) == ["awful", "great day"]  # the shared test tweet counted once
    assert info == {"source": "test splits", "n": 2, "excluded_seen_in_training": 1}

    eval_file = _frame([("lovely", "positive"), ("fine", "neutral"), ("meh", "neutral")])
    texts, info = evaluation_texts([old, new], eval_file)
    assert list(texts["text"]) == ["fine"] and info["source"] == "eval_data"
    assert info["excluded_seen_in_training"] == 2

    with pytest.raises(DatasetError, match="none of the models trained on"):
        evaluation_texts([old, new], _frame([("lovely", "positive")]))


def test_the_document_scores_both_sides_on_the_same_texts_and_lists_changed_labels_most_confident_first():
    frame = _frame([("a", "positive"), ("b", "negative"), ("c", "neutral"), ("d", "positive"), ("e", "negative")])
    #                  neg  neu  pos
    proba_a = np.array([[0.1, 0.2, 0.7], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1], [0.6, 0.3, 0.1], [0.8, 0.1, 0.1]])
    proba_b = np.array([[0.1, 0.1, 0.8], [0.9, 0.05, 0.05], [0.1, 0.8, 0.1], [0.2, 0.7, 0.1], [0.1, 0.3, 0.6]])
    a = {"run_id": "A", "params": {"seed": 1, "epochs": 2}, "data": {"sha256": "x"}}
    b = {"run_id": "B", "params": {"seed": 2, "epochs": 2}, "data": {"sha256": "x"}}

    doc = comparison_document(frame, LABELS, proba_a, proba_b, a=a, b=b, texts={"source": "t"}, resamples=200)

    assert doc["params_differences"] == [{"name": "seed", "a": 1, "b": 2}] and doc["same_data"] is True
    assert doc["metrics"]["a"]["accuracy"] == pytest.approx(3 / 5) and doc["metrics"]["b"]["accuracy"] == 3 / 5
    changed = doc["changed"]
    assert [row["text"] for row in changed["shown"]] == ["b", "d", "e"]  # B's confidence 0.9, 0.7, 0.6
    assert [row["outcome"] for row in changed["shown"]] == ["fixed", "still wrong", "broken"]
    assert (changed["n"], changed["fixed"], changed["broken"]) == (3, 1, 1)
    assert doc["mcnemar"]["only_a"] == 1 and doc["mcnemar"]["only_b"] == 1
    per_class = doc["per_class"]["negative"]
    assert per_class["delta_f1"] == pytest.approx(per_class["f1_b"] - per_class["f1_a"])
    assert doc["macro_f1"]["delta"] == pytest.approx(doc["metrics"]["b"]["macro_f1"] - doc["metrics"]["a"]["macro_f1"])
    assert "B − A = " in verdict(doc) and "McNemar p" in verdict(doc)


class _Reordered:
    """A predictor whose labels come in another order than the comparison's."""

    labels = ["positive", "negative", "neutral"]

    def predict_proba(self, texts):
        return np.tile([0.6, 0.3, 0.1], (len(texts), 1))


def test_probabilities_come_back_in_the_comparisons_label_order():
    proba = probabilities(_Reordered(), ["x", "y"], LABELS)
    assert proba.tolist() == [[0.3, 0.1, 0.6]] * 2
    with pytest.raises(DatasetError, match="different labels"):
        probabilities(_Reordered(), ["x"], ["negative", "positive"])
