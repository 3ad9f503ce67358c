import numpy as np
import pytest

from sentiment_pipeline.inference.cleaning import CleaningConfig, clean_texts
from sentiment_pipeline.inference.tokenizer import TweetTokenizer
from sentiment_pipeline.params import ModelConfig
from sentiment_pipeline.training.keras_predictor import keras_predictor, load_keras_predictor
from sentiment_pipeline.training.model import build_model, save_model, train_model

TEXTS = ["I love this so much", "worst day ever, not good", "see you at 5 @bob", "goood morning http://x.co"]
TINY = ModelConfig(embedding_dim=8, lstm_units=4, ngram_dim=4, char_dim=4, ensemble_size=1)


@pytest.fixture(scope="module")
def tokenizer() -> TweetTokenizer:
    return TweetTokenizer(min_count=1, max_len=8).fit(clean_texts(TEXTS))


@pytest.mark.parametrize(("ngram_dim", "char_dim", "inputs"), [(4, 4, ["chars", "ngrams", "words"]), (0, 0, ["words"])])
def test_branches_switch_on_and_off_and_the_predictor_feeds_what_the_model_takes(
    tokenizer, ngram_dim, char_dim, inputs
):
    config = ModelConfig(**{**TINY.to_dict(), "ngram_dim": ngram_dim, "char_dim": char_dim})
    model = build_model(tokenizer, 3, config)
    used = {layer.name for layer in model.layers}
    assert ("char_embedding" in used) == (char_dim > 0) and ("ngram_embedding" in used) == (ngram_dim > 0)
    predictor = keras_predictor(model, tokenizer, ["negative", "neutral", "positive"])
    assert predictor.model.input_names == inputs
    probabilities = predictor.predict_proba(TEXTS)
    assert probabilities.shape == (len(TEXTS), 3)
    assert np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)
    assert predictor.predict_proba([]).shape == (0, 3)


def test_char_branch_needs_a_tokenizer_with_character_ngrams(tokenizer):
    old = TweetTokenizer(min_count=1, max_len=8, word_index=tokenizer.word_index, ngram_index=tokenizer.ngram_index)
    with pytest.raises(ValueError, match="character n-grams"):
        build_model(old, 3, TINY)


def test_saved_model_reloads_with_identical_predictions(tokenizer, tmp_path):
    model = build_model(tokenizer, 3, TINY)
    labels = ["negative", "neutral", "positive"]
    save_model(tmp_path, model, tokenizer, labels)
    reloaded = load_keras_predictor(tmp_path)
    assert reloaded.labels == labels and reloaded.tokenizer.char_index == tokenizer.char_index
    expected = keras_predictor(model, tokenizer, labels).predict_proba(TEXTS)
    assert np.allclose(reloaded.predict_proba(TEXTS), expected, atol=1e-6)


def test_training_feeds_each_architecture_only_the_inputs_it_has(tokenizer):
    inputs = tokenizer.encode(TEXTS)  # words, ngrams and chars
    labels = np.array([2, 0, 1, 2], dtype=np.int32)
    config = ModelConfig(**{**TINY.to_dict(), "ngram_dim": 0, "char_dim": 0, "epochs": 1})
    model, history = train_model(tokenizer, inputs, labels, inputs, labels, 3, config, verbose=0)
    assert sorted(model.input) == ["words"] and len(history["members"]) == 1


def test_a_text_that_cleans_to_nothing_gets_finite_probabilities(tokenizer):
    """Whitespace or only stop words: no tokens. Encoded as one unknown word, never an all-padding row (NaN)."""
    stop_words = TweetTokenizer(cleaning=CleaningConfig(remove_stop_words=True), min_count=1, max_len=8)
    stop_words.fit(clean_texts(TEXTS, CleaningConfig(remove_stop_words=True)))
    for fitted, texts in ((tokenizer, ["", "   ", "\t"]), (stop_words, ["the and of", "I love this so much"])):
        model = build_model(fitted, 3, TINY)
        probabilities = keras_predictor(model, fitted, ["negative", "neutral", "positive"]).predict_proba(texts)
        assert np.isfinite(probabilities).all() and np.allclose(probabilities.sum(axis=1), 1, atol=1e-5), texts


def test_each_members_training_is_labelled_one_line_per_epoch_and_the_size_is_a_sentence(tokenizer, capsys):
    import re

    from sentiment_pipeline.training.model import size_sentence

    inputs = tokenizer.encode(TEXTS)
    labels = np.array([2, 0, 1, 2], dtype=np.int32)
    config = ModelConfig(**{**TINY.to_dict(), "ensemble_size": 2, "epochs": 2, "patience": 5, "seed": 42})

    model, _ = train_model(tokenizer, inputs, labels, inputs, labels, 3, config)

    lines = capsys.readouterr().out.splitlines()
    assert [line for line in lines if line.startswith("member")] == ["member 1/2 (seed 42)", "member 2/2 (seed 43)"]
    epochs = [line for line in lines if line.startswith("  epoch")]
    assert len(epochs) == 4 and all(re.search(r"validation loss [\d.]+, .*macro-F1 [\d.]+ \(", e) for e in epochs)
    assert lines[1].startswith("  epoch 1/2: loss ") and lines[3].startswith("  kept epoch ")
    assert not [line for line in lines if "Epoch 1/" in line or "━" in line or "\x1b[" in line]  # no Keras log or bars
    sentence = size_sentence(model)
    each = model.layers[-2].count_params()  # a member
    assert sentence.startswith(f"2 members of {each:,} parameters each (word embedding ")
    assert f"{model.count_params():,} parameters in all" in sentence and "\x1b[" not in sentence


def test_members_learn_towards_the_soft_targets_when_given_instead_of_the_labels(tokenizer):
    """Distillation's targets replace the labels: targets that all say 'positive' win over labels that never do."""
    inputs = tokenizer.encode(TEXTS * 8)
    labels = np.array([0, 0, 1, 1] * 8, dtype=np.int32)
    targets = np.tile(np.array([[0.05, 0.05, 0.9]], dtype=np.float32), (len(labels), 1))
    config = ModelConfig(**{**TINY.to_dict(), "epochs": 3, "patience": 3, "learning_rate": 0.05})
    model, _ = train_model(tokenizer, inputs, labels, inputs, labels, 3, config, verbose=0, train_targets=targets)
    learned = keras_predictor(model, tokenizer, ["negative", "neutral", "positive"]).predict_proba(TEXTS)
    assert (learned.argmax(axis=1) == 2).all(), learned
