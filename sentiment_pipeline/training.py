"""Glue the training notebook calls: splits on disk, label ids, evaluation tables, saving the model."""

from __future__ import annotations

import json
import os
import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .data import LABEL_COLUMN, LABELS, TEXT_COLUMN

SPLITS = ("train", "val", "test")


def save_splits(splits: dict[str, pd.DataFrame], split_dir: str | Path) -> None:
    split_dir = Path(split_dir)
    split_dir.mkdir(parents=True, exist_ok=True)
    for name, frame in splits.items():
        frame[[TEXT_COLUMN, LABEL_COLUMN]].to_csv(split_dir / f"{name}.csv", index=False)


def load_splits(split_dir: str | Path) -> dict[str, pd.DataFrame]:
    return {name: pd.read_csv(Path(split_dir) / f"{name}.csv", dtype=str, keep_default_na=False) for name in SPLITS}


def seed_everything(seed: int) -> None:
    """Same data + parameters -> same model: Python, NumPy and TensorFlow seeds, deterministic ops."""
    import keras
    import tensorflow as tf

    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def label_ids(labels: Sequence[str], label_order: Sequence[str] = LABELS) -> np.ndarray:
    index = {label: i for i, label in enumerate(label_order)}
    return np.array([index[label] for label in labels], dtype=np.int32)


def comparison_table(results: dict[str, dict]) -> pd.DataFrame:
    """Headline metrics of several models side by side."""
    return pd.DataFrame(
        {name: {k: m[k] for k in ("accuracy", "macro_f1", "macro_recall")} for name, m in results.items()}
    ).T.round(4)


def per_class_table(results: dict[str, dict]) -> pd.DataFrame:
    rows = {(name, label): values for name, m in results.items() for label, values in m["per_class"].items()}
    return pd.DataFrame(rows).T.round(3)


def misclassified(
    frame: pd.DataFrame, probabilities: np.ndarray, label_order: Sequence[str] = LABELS, n: int = 15
) -> pd.DataFrame:
    """The most confident mistakes: what a person should read to see what the model gets wrong."""
    predicted = probabilities.argmax(axis=1)
    table = pd.DataFrame(
        {
            "text": frame[TEXT_COLUMN].to_numpy(),
            "true": frame[LABEL_COLUMN].to_numpy(),
            "predicted": [label_order[i] for i in predicted],
            "confidence": probabilities.max(axis=1).round(3),
        }
    )
    return table[table["true"] != table["predicted"]].sort_values("confidence", ascending=False).head(n)


def save_model(model_dir: str | Path, model, tokenizer, labels: Sequence[str] = LABELS) -> None:
    """``model.keras`` (native format), ``tokenizer.json`` and ``labels.json``: all a server needs."""
    from .model import LABELS_FILE, MODEL_FILE, TOKENIZER_FILE

    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    model.save(model_dir / MODEL_FILE)
    (model_dir / TOKENIZER_FILE).write_text(tokenizer.to_json(), encoding="utf-8")
    (model_dir / LABELS_FILE).write_text(json.dumps({"labels": list(labels)}), encoding="utf-8")
