"""The training report's tables and verdict (sentiment_pipeline/training/evaluation.py) on hand-made metrics."""

import re

import numpy as np
import pandas as pd
import pytest

from sentiment_pipeline.training.evaluation import (
    classification_metrics,
    comparison_table,
    lstm_against_baseline,
    misclassified,
    mistakes_table,
    per_class_table,
    verdict,
)

LABELS = ["negative", "neutral", "positive"]
TRUTH = ["negative"] * 5 + ["neutral"] * 3 + ["positive"] * 4
LSTM = ["negative"] * 4 + ["positive"] + ["neutral"] * 3 + ["positive"] * 3 + ["neutral"]
BASELINE = ["negative"] * 5 + ["neutral", "neutral", "positive"] + ["positive"] * 4


def _cells(styler) -> list[str]:
    """The text of every data cell, as the report shows it."""
    return re.findall(r'<td id="[^"]*" class="data[^"]*" >([^<]*)</td>', styler.to_html())


def _results():
    return {
        "LSTM": classification_metrics(TRUTH, LSTM, LABELS),
        "TF-IDF baseline": classification_metrics(TRUTH, BASELINE, LABELS),
    }


def test_per_class_support_is_a_count_and_scores_have_three_decimals():
    table = per_class_table(_results())

    assert table.data["support"].dtype.kind == "i"
    cells = _cells(table)
    assert cells[:4] == ["1.000", "0.800", "0.889", "5"]  # LSTM negative: precision, recall, F1, support
    assert "5.0" not in cells and not [c for c in cells if re.fullmatch(r"\d\.\d{4,}", c)]


def test_headline_scores_have_four_decimals_and_texts_are_counted():
    cells = _cells(comparison_table(_results()))
    assert cells[0] == "12" and cells[1] == f"{10 / 12:.4f}"  # LSTM: texts, accuracy
    assert all(re.fullmatch(r"\d+|\d\.\d{4}", cell) for cell in cells), cells


def test_mistakes_show_confidence_with_three_decimals_and_no_row_numbers():
    frame = pd.DataFrame({"text": ["a", "b"], "label_text": ["negative", "positive"]})
    probabilities = np.array([[0.0310001, 0.968999, 0.0], [0.9, 0.05, 0.05]])
    mistakes = misclassified(frame, probabilities, LABELS)
    cells = _cells(mistakes_table(mistakes))
    assert cells == ["a", "negative", "neutral", "0.969", "b", "positive", "negative", "0.900"]


def test_the_interval_is_of_lstm_minus_baseline():
    truth = ["negative", "neutral", "positive"] * 20
    right, wrong = truth, ["neutral", "positive", "negative"] * 20
    interval = lstm_against_baseline(truth, right, wrong, LABELS)
    assert interval["delta"] == pytest.approx(1.0) and interval["low"] > 0 and interval["n"] == 60
    assert set(interval) == {"n", "delta", "low", "high", "confidence", "resamples", "seed"}
    assert lstm_against_baseline(truth, wrong, right, LABELS)["high"] < 0


def _interval(low, high):
    return {"n": 150, "low": low, "high": high, "confidence": 0.95}


def test_a_loss_is_said_plainly_even_when_the_split_cannot_separate_the_models():
    sentence = verdict(0.8197, 0.8328, _interval(-0.0511, 0.0238))
    assert sentence.startswith("**The LSTM loses to the TF-IDF baseline** on the 150 test tweets")
    assert "0.8197 against 0.8328" in sentence and "-0.0131" in sentence
    assert "[-0.0511, +0.0238], includes zero" in sentence and "cannot tell the two models apart" in sentence


def test_a_clear_loss_a_clear_win_and_a_tie():
    loss = verdict(0.70, 0.75, _interval(-0.08, -0.02))
    assert "loses" in loss and "excludes zero: the baseline is better" in loss
    win = verdict(0.78, 0.74, _interval(0.01, 0.07))
    assert "**The LSTM beats the TF-IDF baseline**" in win and "+0.0400" in win
    assert "excludes zero: the LSTM is better" in win
    tie = verdict(0.75, 0.75, _interval(-0.03, 0.03))
    assert "**The LSTM ties with the TF-IDF baseline**" in tie and "includes zero" in tie
    narrow_win = verdict(0.76, 0.75, _interval(-0.02, 0.04))
    assert "beats" in narrow_win and "includes zero: these test tweets cannot tell" in narrow_win
