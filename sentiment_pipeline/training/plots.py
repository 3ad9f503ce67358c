"""The report figures; each returns a matplotlib Figure so notebooks show it inline."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from .data import LABEL_COLUMN, LABELS, TEXT_COLUMN

MAX_WORD_BINS = 200
COLORS = {"negative": "#d62728", "neutral": "#7f7f7f", "positive": "#2ca02c"}


def data_profile(frame: pd.DataFrame) -> plt.Figure:
    """Class balance and text-length distribution per class."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.6))
    counts = frame[LABEL_COLUMN].value_counts().reindex(LABELS, fill_value=0)
    left.bar(counts.index, counts.values, color=[COLORS[label] for label in counts.index])
    for x, value in enumerate(counts.values):
        left.annotate(f"{value:,} ({value / max(len(frame), 1):.0%})", (x, value), ha="center", va="bottom")
    left.set_ylim(top=max(counts.max(), 1) * 1.12)  # room for the counts above the bars
    left.set_title("Class balance")
    left.set_ylabel("tweets")
    # One bin per word count, up to a cap: one pasted 1 MB "tweet" made a histogram of 200,000 bins (10 minutes,
    # 6 GB). Longer texts are counted in the last bin, labelled as such.
    words = frame[TEXT_COLUMN].str.split().str.len()
    cap = int(min(max(words.quantile(0.999), 10), MAX_WORD_BINS))
    clipped = words.clip(upper=cap)
    for label in LABELS:
        right.hist(
            clipped[frame[LABEL_COLUMN] == label],
            bins=range(0, cap + 2),
            alpha=0.5,
            label=label,
            color=COLORS[label],
        )
    right.set_title("Words per tweet")
    right.set_xlabel("words" if int(words.max()) <= cap else f"words (the last bin: {cap} or more)")
    right.xaxis.set_major_locator(MaxNLocator(integer=True))  # words are counted, never 2.5
    right.legend()
    fig.tight_layout()
    return fig


def training_curves(history: dict) -> plt.Figure:
    """Loss and validation macro-F1 per epoch for every ensemble member, each kept epoch marked.

    One colour per member, the line style says train or validation; one compact legend below both plots, clear of
    the curves (eight entries inside the axes used to cover them).
    """
    from matplotlib.lines import Line2D

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    members = history["members"]
    for index, member in enumerate(members):
        color = f"C{index}"
        epochs = np.arange(1, len(member["loss"]) + 1)
        left.plot(epochs, member["loss"], "o-", color=color)
        left.plot(epochs, member.get("val_loss", []), "o--", color=color)
        right.plot(epochs, member.get("val_macro_f1", []), "s-", color=color)
        right.plot(member["best_epoch"], member["val_macro_f1"][member["best_epoch"] - 1], "k*", markersize=12)
    right.axhline(history["val_macro_f1"], color="black", linestyle=":")
    right.margins(y=0.12)  # the averaged model's line often sits above every member: keep it off the frame
    left.set_title("Loss")
    right.set_title("Validation macro-F1")
    for axis in (left, right):
        axis.set_xlabel("epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are counted, never 1.5
    handles = [Line2D([], [], color=f"C{i}", linewidth=3, label=f"member {i + 1}") for i in range(len(members))]
    handles += [
        Line2D([], [], color="grey", linestyle="-", marker="o", label="train loss"),
        Line2D([], [], color="grey", linestyle="--", marker="o", label="validation loss"),
        Line2D([], [], color="black", linestyle="", marker="*", markersize=12, label="kept epoch"),
        Line2D([], [], color="black", linestyle=":", label="averaged model"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 8), frameon=False)
    return fig


def confusion_matrices(results: dict[str, dict], labels: Sequence[str] = LABELS) -> plt.Figure:
    """One normalized confusion matrix per model (``{"LSTM": metrics, "TF-IDF baseline": metrics}``)."""
    fig, axes = plt.subplots(1, len(results), figsize=(5.2 * len(results), 4.2), squeeze=False)
    for axis, (name, metrics) in zip(axes[0], results.items(), strict=False):
        matrix = np.asarray(metrics["confusion_matrix"]["rows_true_cols_pred"], dtype=float)
        shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
        axis.imshow(shares, cmap="Blues", vmin=0, vmax=1)
        for i in range(len(labels)):
            for j in range(len(labels)):
                axis.text(
                    j,
                    i,
                    f"{int(matrix[i, j])}\n{shares[i, j]:.0%}",
                    ha="center",
                    va="center",
                    color="white" if shares[i, j] > 0.5 else "black",
                )
        axis.set_xticks(range(len(labels)), labels)
        axis.set_yticks(range(len(labels)), labels)
        axis.set_xlabel("predicted")
        axis.set_ylabel("true")
        axis.set_title(f"{name}: macro-F1 {metrics['macro_f1']:.3f}")
    fig.tight_layout()
    return fig
