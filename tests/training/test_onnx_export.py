"""The ONNX export on a tiny untrained model: same probabilities as Keras, and a disagreement fails loudly."""

import numpy as np
import pytest

from sentiment_pipeline.inference import ONNX_FILE
from sentiment_pipeline.inference.cleaning import clean_texts
from sentiment_pipeline.inference.onnx_model import OnnxModel
from sentiment_pipeline.inference.predictor import load_predictor
from sentiment_pipeline.inference.tokenizer import TweetTokenizer
from sentiment_pipeline.params import ModelConfig
from sentiment_pipeline.training.keras_predictor import keras_predictor
from sentiment_pipeline.training.model import build_model, save_model
from sentiment_pipeline.training.onnx_export import PARITY_ATOL, OnnxParityError, export_and_check, parity

TEXTS = ["I love this so much", "worst day ever, not good", "see you at 5 @bob", "goood morning http://x.co"]
LABELS = ["negative", "neutral", "positive"]


@pytest.fixture(scope="module")
def tokenizer() -> TweetTokenizer:
    return TweetTokenizer(min_count=1, max_len=8).fit(clean_texts(TEXTS))


@pytest.mark.parametrize(("ngram_dim", "char_dim"), [(4, 4), (0, 0)])
def test_the_export_answers_like_keras_for_every_architecture(tokenizer, tmp_path, ngram_dim, char_dim):
    config = ModelConfig(embedding_dim=8, lstm_units=4, ngram_dim=ngram_dim, char_dim=char_dim, ensemble_size=1)
    model = build_model(tokenizer, 3, config)
    inputs = tokenizer.encode(TEXTS)  # words, ngrams and chars: the export takes only the model's own
    expected = keras_predictor(model, tokenizer, LABELS).predict_proba(TEXTS)

    check = export_and_check(model, tmp_path, inputs, expected)

    assert check["passed"] and check["argmax_agrees"] and check["n"] == len(TEXTS)
    assert check["max_abs_diff"] <= PARITY_ATOL
    onnx = OnnxModel(tmp_path / ONNX_FILE)
    assert onnx.input_names == sorted(model.input)
    assert np.allclose(onnx.predict_proba(inputs), expected, atol=PARITY_ATOL)


def test_the_served_predictor_loads_the_export_and_answers_like_the_keras_one(tokenizer, tmp_path):
    model = build_model(tokenizer, 3, ModelConfig(embedding_dim=8, lstm_units=4, ngram_dim=4, char_dim=4))
    save_model(tmp_path, model, tokenizer, LABELS)
    keras = keras_predictor(model, tokenizer, LABELS)
    export_and_check(model, tmp_path, tokenizer.encode(TEXTS), keras.predict_proba(TEXTS))

    served = load_predictor(tmp_path, threads=2)

    assert served.labels == LABELS and served.model.input_names == ["chars", "ngrams", "words"]
    assert [p["label"] for p in served.predict(TEXTS)] == [p["label"] for p in keras.predict(TEXTS)]
    assert np.allclose(served.predict_proba(TEXTS), keras.predict_proba(TEXTS), atol=PARITY_ATOL)


def test_an_export_that_disagrees_fails_the_run(tokenizer, tmp_path):
    model = build_model(tokenizer, 3, ModelConfig(embedding_dim=8, lstm_units=4, ngram_dim=4, char_dim=4))
    expected = keras_predictor(model, tokenizer, LABELS).predict_proba(TEXTS)
    wrong = expected[:, ::-1].copy()  # what a model exported with its classes swapped would answer
    with pytest.raises(OnnxParityError, match="disagrees with the Keras model"):
        export_and_check(model, tmp_path, tokenizer.encode(TEXTS), wrong)


def test_parity_counts_the_largest_difference_and_label_flips():
    expected = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]], dtype=np.float32)
    assert parity(expected, expected + 1e-7)["passed"]
    nudged = parity(expected, expected + np.array([[0, 0, 2e-5], [0, 0, 0]], dtype=np.float32))
    assert not nudged["passed"] and nudged["argmax_agrees"] and nudged["max_abs_diff"] == pytest.approx(2e-5, rel=1e-3)
    flipped = parity(expected, expected[:, ::-1])
    assert not flipped["passed"] and not flipped["argmax_agrees"]
    with pytest.raises(OnnxParityError, match="shape"):
        parity(expected, expected[:1])


def test_the_parity_check_runs_the_export_in_bounded_chunks(tokenizer, tmp_path, monkeypatch):
    """The whole test split in one ONNX Runtime call was the peak of a 200,000-tweet run (8.3 GB)."""
    from sentiment_pipeline.inference.predictor import CHUNK_ROWS
    from sentiment_pipeline.training import onnx_export

    calls: list[int] = []

    class Counting(OnnxModel):
        def predict_proba(self, inputs):
            calls.append(len(inputs["words"]))
            return super().predict_proba(inputs)

    monkeypatch.setattr(onnx_export, "OnnxModel", Counting)
    model = build_model(tokenizer, 3, ModelConfig(embedding_dim=8, lstm_units=4, ngram_dim=4, char_dim=4))
    texts = TEXTS * (CHUNK_ROWS // 2 + 1)  # a little over two chunks
    expected = keras_predictor(model, tokenizer, LABELS).predict_proba(texts)

    check = export_and_check(model, tmp_path, tokenizer.encode(texts), expected)

    assert check["passed"] and check["n"] == len(texts)
    assert max(calls) <= CHUNK_ROWS and sum(calls) == len(texts)


def test_an_averaged_model_is_exported_member_by_member_and_joined_with_a_mean(tokenizer, tmp_path):
    """Converting the members one at a time keeps tf2onnx's working memory to a member's size; the joined graph
    must answer exactly as the Keras average does."""
    import onnx

    from sentiment_pipeline.training.model import average_members
    from sentiment_pipeline.training.onnx_export import members

    config = ModelConfig(embedding_dim=8, lstm_units=4, ngram_dim=4, char_dim=4)
    model = average_members([build_model(tokenizer, 3, config, name=f"member_{i}") for i in range(3)])
    assert len(members(model)) == 3 and members(members(model)[0]) == [members(model)[0]]
    expected = keras_predictor(model, tokenizer, LABELS).predict_proba(TEXTS)

    check = export_and_check(model, tmp_path, tokenizer.encode(TEXTS), expected)

    assert check["passed"] and check["max_abs_diff"] <= PARITY_ATOL
    graph = onnx.load(str(tmp_path / ONNX_FILE)).graph
    [mean] = [node for node in graph.node if node.op_type == "Mean"]
    assert len(mean.input) == 3 and [i.name for i in graph.input] == ["chars", "ngrams", "words"]
    assert len(graph.output) == 1 and graph.output[0].name == mean.output[0]
