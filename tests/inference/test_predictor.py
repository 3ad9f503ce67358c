"""The TF-free predictor: answer format and the error for a model folder without model.onnx (no model needed)."""

import json

import numpy as np
import pytest

from sentiment_pipeline.inference.cleaning import clean_texts
from sentiment_pipeline.inference.predictor import MissingOnnxModel, Predictor, load_predictor
from sentiment_pipeline.inference.tokenizer import TweetTokenizer

LABELS = ["negative", "neutral", "positive"]
TEXTS = ["I love this", "worst day ever", "see you at 5"]


class FixedModel:
    """Answers each text with a fixed row, so the test checks the predictor's own work."""

    input_names = ["words"]

    def __init__(self) -> None:
        self.seen: list[dict] = []

    def predict_proba(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        self.seen.append(inputs)
        return np.tile(np.array([0.1, 0.2, 0.7], dtype=np.float32), (len(inputs["words"]), 1))


def test_texts_are_tokenized_once_and_answered_in_order_with_rounded_scores():
    tokenizer = TweetTokenizer(min_count=1, max_len=6).fit(clean_texts(TEXTS))
    model = FixedModel()
    predictor = Predictor(model, tokenizer, LABELS)

    answers = predictor.predict(TEXTS)

    assert [a["label"] for a in answers] == ["positive"] * 3
    assert answers[0]["scores"] == {"negative": 0.1, "neutral": 0.2, "positive": 0.7}
    assert len(model.seen) == 1 and np.array_equal(model.seen[0]["words"], tokenizer.encode(TEXTS)["words"])
    assert predictor.predict_proba([]).shape == (0, 3) and len(model.seen) == 1  # nothing sent for no texts


def test_a_model_folder_without_onnx_names_the_fix(tmp_path):
    tokenizer = TweetTokenizer(min_count=1, max_len=6).fit(clean_texts(TEXTS))
    (tmp_path / "tokenizer.json").write_text(tokenizer.to_json())
    (tmp_path / "labels.json").write_text(json.dumps({"labels": LABELS}))
    (tmp_path / "model.keras").write_bytes(b"an older registered model")
    with pytest.raises(MissingOnnxModel, match=r"has no model.onnx: .* \(`sentiment-pipeline register --run-id"):
        load_predictor(tmp_path)


class RowEcho:
    """Answers each row with its first word id spread over the classes, so the order of the rows can be checked."""

    input_names = ["words"]

    def __init__(self) -> None:
        self.rows_per_call: list[int] = []

    def predict_proba(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        self.rows_per_call.append(len(inputs["words"]))
        first = inputs["words"][:, :1].astype(np.float32)
        return np.hstack([first, first + 1, first + 2])


def test_many_texts_go_to_the_model_in_bounded_chunks_and_come_back_in_order():
    """A 200,000-tweet run's test split in one model call held GBs of activations: calls are capped at CHUNK_ROWS."""
    from sentiment_pipeline.inference.predictor import CHUNK_ROWS, predict_in_chunks

    texts = [f"tweet number {i}" for i in range(2 * CHUNK_ROWS + 5)]
    tokenizer = TweetTokenizer(min_count=1, max_len=4).fit(clean_texts(texts))
    model = RowEcho()

    chunked = Predictor(model, tokenizer, LABELS).predict_proba(texts)

    assert model.rows_per_call == [CHUNK_ROWS, CHUNK_ROWS, 5]
    whole = RowEcho().predict_proba(tokenizer.encode(texts))
    assert np.array_equal(chunked, whole)
    encoded = tokenizer.encode(texts)
    direct = RowEcho()
    assert np.array_equal(predict_in_chunks(direct, encoded, rows=1000), whole) and direct.rows_per_call == [
        1000,
        1000,
        CHUNK_ROWS * 2 + 5 - 2000,
    ]
