"""How a trained model is judged: the metrics ``metrics.json`` records, and the tables the report shows."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pandas.io.formats.style import Styler
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support, recall_score

from .data import LABEL_COLUMN, LABELS, TEXT_COLUMN, DatasetError, seen_in


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


SCORE_FORMAT = "{:.4f}"  # headline scores (accuracy, macro-F1): one standard error is about 0.008 at best
CLASS_SCORE_FORMAT = "{:.3f}"  # per-class precision / recall / F1
CONFIDENCE_FORMAT = "{:.3f}"
COUNT_FORMAT = "{:,}"
HEADLINE_COLUMNS = {"n": "texts", "accuracy": "accuracy", "macro_f1": "macro-F1", "macro_recall": "macro-recall"}


def comparison_table(results: dict[str, dict]) -> Styler:
    """Headline metrics of several models side by side: texts scored as a count, scores to 4 decimals."""
    frame = pd.DataFrame({name: {key: m[key] for key in HEADLINE_COLUMNS} for name, m in results.items()}).T.astype(
        {"n": int, "accuracy": float, "macro_f1": float, "macro_recall": float}
    )
    frame = frame.rename(columns=HEADLINE_COLUMNS)
    return frame.style.format(SCORE_FORMAT, subset=["accuracy", "macro-F1", "macro-recall"]).format(
        COUNT_FORMAT, subset=["texts"]
    )


def per_class_table(results: dict[str, dict]) -> Styler:
    """Precision, recall and F1 per model and class to 3 decimals, support as a count."""
    rows = {(name, label): values for name, m in results.items() for label, values in m["per_class"].items()}
    frame = pd.DataFrame.from_dict(rows, orient="index")[["precision", "recall", "f1", "support"]]
    frame = frame.astype({"precision": float, "recall": float, "f1": float, "support": int})
    frame.index = pd.MultiIndex.from_tuples(frame.index)  # unnamed: the values say model and class
    frame = frame.rename(columns={"f1": "F1"})
    return frame.style.format(CLASS_SCORE_FORMAT, subset=["precision", "recall", "F1"]).format(
        COUNT_FORMAT, subset=["support"]
    )


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


def mistakes_table(mistakes: pd.DataFrame) -> Styler:
    """``misclassified``'s rows as the report shows them: confidence to 3 decimals, texts aligned left, no row
    numbers."""
    from .reports import text_table

    return text_table(mistakes, {"confidence": CONFIDENCE_FORMAT})


def lstm_against_baseline(
    y_true: Sequence[str], lstm_pred: Sequence[str], baseline_pred: Sequence[str], labels: Sequence[str] = LABELS
) -> dict:
    """The paired bootstrap 95% interval of LSTM minus baseline macro-F1 on the same texts (``comparison.
    paired_bootstrap`` with the baseline as A), as ``metrics.json``'s ``lstm_minus_baseline_interval`` records it."""
    from .comparison import paired_bootstrap

    found = paired_bootstrap(list(y_true), list(baseline_pred), list(lstm_pred), labels)
    return {key: found[key] for key in ("n", "delta", "low", "high", "confidence", "resamples", "seed")}


def verdict(lstm_macro_f1: float, baseline_macro_f1: float, interval: dict, texts: str = "test tweets") -> str:
    """The training report's verdict in one sentence (Markdown): the LSTM against the TF-IDF baseline, their macro-F1
    difference, and whether the paired bootstrap interval of that difference excludes zero."""
    delta = lstm_macro_f1 - baseline_macro_f1
    if delta > 0:
        lead = "The LSTM beats the TF-IDF baseline"
    elif delta < 0:
        lead = "The LSTM loses to the TF-IDF baseline"
    else:
        lead = "The LSTM ties with the TF-IDF baseline"
    level = f"{interval['confidence']:.0%}"
    bounds = f"[{interval['low']:+.4f}, {interval['high']:+.4f}]"
    if interval["low"] > 0:
        reading = f"excludes zero: the LSTM is better on these {texts}."
    elif interval["high"] < 0:
        reading = f"excludes zero: the baseline is better on these {texts}."
    else:
        reading = f"includes zero: these {texts} cannot tell the two models apart."
    return (
        f"**{lead}** on the {interval['n']:,} {texts}: macro-F1 {lstm_macro_f1:.4f} against {baseline_macro_f1:.4f}, "
        f"a difference of {delta:+.4f}. The paired bootstrap {level} interval of the difference, {bounds}, {reading}"
    )


@dataclass(frozen=True)
class UnseenScores:
    """Models scored on the labelled texts none of them trained or validated on (``score_unseen``)."""

    texts: pd.DataFrame  # the rows scored: text, label_text
    info: dict[str, Any]  # {"source", "n", "excluded_seen_in_training"}
    outputs: dict[str, Any]  # each model's output on ``texts``, by the name it was given


def score_unseen(
    pool: pd.DataFrame,
    trained_on: Sequence[pd.DataFrame],
    models: Mapping[str, Callable[[list[str]], Any]],
    source: str = "eval_data",
) -> UnseenScores:
    """Score ``models`` on the rows of ``pool`` whose cleaned text (``data.duplicate_keys``) is in none of
    ``trained_on`` (the runs' train and validation splits); the rows left out are counted.

    The one scoring of an evaluation file: the train notebook (its model and baseline on ``--eval-data``) and
    ``compare``/the gate (two runs' models on the file or on their test splits) both call it. A model that trained on
    a text would be rewarded for memory there, and when the data changed between two runs the older model may have
    trained on tweets in the newer one's test split. DatasetError when no row is left.
    """
    unseen = ~seen_in(pool, list(trained_on))
    kept = pool[unseen][[TEXT_COLUMN, LABEL_COLUMN]].reset_index(drop=True)
    info = {"source": source, "n": int(len(kept)), "excluded_seen_in_training": int((~unseen).sum())}
    if kept.empty:
        raise DatasetError(
            f"no {source} text is left that the model{'s' if len(models) > 1 else ''} did not train on "
            f"({info['excluded_seen_in_training']} excluded); pass an evaluation file kept apart from the training "
            "data (--eval-data)"
        )
    texts = list(kept[TEXT_COLUMN])
    return UnseenScores(kept, info, {name: model(texts) for name, model in models.items()})
