"""How a trained model is judged: the metrics ``metrics.json`` records, and the tables the report shows."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support, recall_score

from .data import LABEL_COLUMN, LABELS, TEXT_COLUMN


def classification_metrics(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str] = LABELS) -> dict:
    """Accuracy, macro-F1, macro-recall, per-class precision/recall/F1/support and the confusion matrix."""
    labels = list(labels)
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    return {
        "n": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "macro_recall": float(recall_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "per_class": {
            label: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, label in enumerate(labels)
        },
        "confusion_matrix": {
            "labels": labels,
            "rows_true_cols_pred": np.asarray(confusion_matrix(y_true, y_pred, labels=labels)).tolist(),
        },
    }


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
