"""The Keras 3 model and its training: averaged BiLSTM members with bags of word bigrams and character n-grams.

Several members trained from different seeds and averaged beat any single one by about a point of
macro-F1 on this data (label noise makes single runs jumpy); they are saved as one Keras model.

Saved as the native ``.keras`` format (``keras_predictor`` loads it) and exported to ONNX for serving
(``onnx_export``).
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..inference import LABELS_FILE, MODEL_FILE, TOKENIZER_FILE
from ..inference.tokenizer import TweetTokenizer
from ..params import ModelConfig
from .data import LABELS
from .memory import release_memory
from .tensorflow_runtime import keras, tf


def seed_everything(seed: int) -> None:
    """Same data + parameters -> same model: Python, NumPy and TensorFlow seeds, deterministic ops."""
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def _bag(ids: keras.KerasTensor, vocab_size: int, dim: int, dropout: float, name: str) -> keras.KerasTensor:
    """fastText-style branch: the average embedding of a padded bag of ids."""
    bag = keras.layers.Embedding(vocab_size, dim, mask_zero=True, name=name)(ids)
    return keras.layers.Dropout(dropout)(keras.layers.GlobalAveragePooling1D()(bag))


def build_model(tokenizer: TweetTokenizer, n_labels: int, config: ModelConfig, name: str = "member_0") -> keras.Model:
    """One member: BiLSTM with max+mean pooling beside optional bags of word n-grams and character n-grams."""
    words = keras.Input(shape=(tokenizer.max_len,), dtype="int32", name="words")
    inputs = {"words": words}
    x = keras.layers.Embedding(tokenizer.vocab_size, config.embedding_dim, name="word_embedding")(words)
    x = keras.layers.SpatialDropout1D(config.spatial_dropout)(x)
    x = keras.layers.Bidirectional(keras.layers.LSTM(config.lstm_units, return_sequences=True), name="bilstm")(x)
    x = keras.layers.Concatenate()([keras.layers.GlobalMaxPooling1D()(x), keras.layers.GlobalAveragePooling1D()(x)])
    features = [keras.layers.Dropout(config.dropout)(x)]
    if config.ngram_dim > 0:
        inputs["ngrams"] = keras.Input(shape=(tokenizer.ngram_len,), dtype="int32", name="ngrams")
        features.append(
            _bag(inputs["ngrams"], tokenizer.ngram_vocab_size, config.ngram_dim, config.dropout, "ngram_embedding")
        )
    if config.char_dim > 0:
        if not tokenizer.char_index:
            raise ValueError("char_dim > 0 needs a tokenizer fitted with character n-grams")
        inputs["chars"] = keras.Input(shape=(tokenizer.char_len,), dtype="int32", name="chars")
        features.append(
            _bag(inputs["chars"], tokenizer.char_vocab_size, config.char_dim, config.dropout, "char_embedding")
        )
    x = keras.layers.Concatenate()(features) if len(features) > 1 else features[0]
    outputs = keras.layers.Dense(n_labels, activation="softmax", name="label")(x)
    model = keras.Model(inputs=inputs, outputs=outputs, name=name)
    model.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


class _BestMacroF1(keras.callbacks.Callback):
    """Tracks validation macro-F1 each epoch, keeps the best weights, stops after `patience` bad epochs."""

    def __init__(self, inputs: dict, labels: np.ndarray, patience: int) -> None:
        super().__init__()
        self.inputs, self.labels, self.patience = inputs, labels, patience
        self.best, self.best_epoch, self.best_weights, self.history = -1.0, -1, None, []

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        from sklearn.metrics import f1_score

        predicted = self.model.predict(self.inputs, batch_size=1024, verbose=0).argmax(axis=1)
        score = float(f1_score(self.labels, predicted, average="macro"))
        self.history.append(score)
        if logs is not None:
            logs["val_macro_f1"] = score
        if score > self.best:
            self.best, self.best_epoch, self.best_weights = score, epoch, self.model.get_weights()
        elif epoch - self.best_epoch >= self.patience:
            self.model.stop_training = True

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)


def _without_optimizer(model: keras.Model) -> keras.Model:
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone


def average_members(members: Sequence[keras.Model]) -> keras.Model:
    """One model whose output is the mean of the members' class probabilities."""
    # Uncompiled clones: the saved file then holds weights only, not three sets of Adam slots (3x the size).
    members = [_without_optimizer(member) for member in members]
    if len(members) == 1:
        return members[0]
    inputs = {
        name: keras.Input(shape=tensor.shape[1:], dtype="int32", name=name) for name, tensor in members[0].input.items()
    }
    outputs = keras.layers.Average(name="label")([member(inputs) for member in members])
    return keras.Model(inputs=inputs, outputs=outputs, name="tweet_sentiment")


def _select(model: keras.Model, inputs: dict) -> dict:
    return {name: inputs[name] for name in model.input}


class _EpochLine(keras.callbacks.Callback):
    """One line per epoch (Keras's own log takes two, and a progress bar when verbose=1), written after
    ``_BestMacroF1`` has added the validation macro-F1 to the epoch's logs."""

    def __init__(self, epochs: int) -> None:
        super().__init__()
        self.epochs, self.started = epochs, 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        print(epoch_line(epoch + 1, self.epochs, logs or {}, time.perf_counter() - self.started), flush=True)


def epoch_line(epoch: int, epochs: int, logs: dict, seconds: float) -> str:
    """``  epoch 1/2: loss 1.0664, accuracy 0.512; validation loss 0.9974, accuracy 0.788, macro-F1 0.7823 (4.0 s)``"""

    def value(key: str, digits: int) -> str:
        return f"{logs[key]:.{digits}f}" if key in logs else "?"

    return (
        f"  epoch {epoch}/{epochs}: loss {value('loss', 4)}, accuracy {value('accuracy', 3)}; validation loss "
        f"{value('val_loss', 4)}, accuracy {value('val_accuracy', 3)}, macro-F1 {value('val_macro_f1', 4)} "
        f"({seconds:.1f} s)"
    )


LAYER_NAMES = {
    "word_embedding": "word embedding",
    "bilstm": "BiLSTM",
    "ngram_embedding": "word n-gram bag",
    "char_embedding": "character n-gram bag",
    "label": "output layer",
}


def size_sentence(model: keras.Model) -> str:
    """The model's size in one sentence: parameters per member, by part, and in all (``model.summary()``'s numbers
    without its table of colour codes)."""
    members = [layer for layer in model.layers if isinstance(layer, keras.Model)] or [model]
    parts = "; ".join(
        f"{LAYER_NAMES.get(layer.name, layer.name)} {layer.count_params():,}"
        for layer in members[0].layers
        if layer.count_params()
    )
    total = model.count_params()
    each = members[0].count_params()
    count = (
        f"{len(members)} members of {each:,} parameters each"
        if len(members) > 1
        else f"one member of {each:,} parameters"
    )
    return f"{count} ({parts}): {total:,} parameters in all, {total * 4 / 1e6:.1f} MB as 32-bit floats."


def train_model(
    tokenizer: TweetTokenizer,
    train_inputs: dict,
    train_labels: np.ndarray,
    val_inputs: dict,
    val_labels: np.ndarray,
    n_labels: int,
    config: ModelConfig,
    verbose: int = 2,
    train_targets: np.ndarray | None = None,
) -> tuple[keras.Model, dict]:
    """Train ``config.ensemble_size`` members (seeds seed, seed+1, ...), each kept at its best validation epoch.
    Unless ``verbose`` is 0, each member's training is printed under a line naming it (``member 2/4 (seed 43)``):
    one line per epoch, then the epoch kept.

    ``train_targets`` (one row of class probabilities per training text, ``teacher.soft_targets``) replaces the
    labels as what the members learn towards: distillation. Validation is scored on the true labels either way.

    Returns the averaged model and ``{"members": [per-member history], "val_macro_f1": ensemble score}``.
    """
    from sklearn.metrics import f1_score

    members, histories = [], []
    for index in range(config.ensemble_size):
        keras.utils.set_random_seed(config.seed + index)
        if verbose:
            print(f"member {index + 1}/{config.ensemble_size} (seed {config.seed + index})", flush=True)
        member = build_model(tokenizer, n_labels, config, name=f"member_{index}")
        if train_targets is not None:  # probabilities, not label ids
            member.compile(
                optimizer=keras.optimizers.Adam(config.learning_rate),
                loss="categorical_crossentropy",
                metrics=["accuracy"],
            )
        # Only the inputs this architecture takes: Keras maps a dict with extra keys by position, not name.
        train_inputs, val_inputs = (_select(member, inputs) for inputs in (train_inputs, val_inputs))
        tracker = _BestMacroF1(val_inputs, val_labels, config.patience)
        fit = member.fit(
            train_inputs,
            train_labels if train_targets is None else train_targets,
            validation_data=(val_inputs, val_labels if train_targets is None else np.eye(n_labels)[val_labels]),
            batch_size=config.batch_size,
            epochs=config.epochs,
            callbacks=[tracker, _EpochLine(config.epochs)] if verbose else [tracker],
            verbose=0,  # _EpochLine writes one line per epoch instead
            shuffle=True,
        )
        history = {key: [float(v) for v in values] for key, values in fit.history.items()}
        history["best_epoch"] = tracker.best_epoch + 1
        if verbose:
            print(f"  kept epoch {history['best_epoch']} (validation macro-F1 {tracker.best:.4f})", flush=True)
        histories.append(history)
        members.append(member)
        del fit, tracker, member  # the fit's data copies and the member's optimizer slots: garbage from here
        release_memory()
    model = average_members(members)
    members.clear()  # the averaged model holds clones without optimizer state
    release_memory()
    predicted = model.predict(val_inputs, batch_size=1024, verbose=0).argmax(axis=1)
    return model, {"members": histories, "val_macro_f1": float(f1_score(val_labels, predicted, average="macro"))}


def save_model(model_dir: str | Path, model, tokenizer, labels: Sequence[str] = LABELS) -> None:
    """``model.keras`` (native format), ``tokenizer.json`` and ``labels.json``: all a server needs."""
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    model.save(model_dir / MODEL_FILE)
    (model_dir / TOKENIZER_FILE).write_text(tokenizer.to_json(), encoding="utf-8")
    (model_dir / LABELS_FILE).write_text(json.dumps({"labels": list(labels)}), encoding="utf-8")
