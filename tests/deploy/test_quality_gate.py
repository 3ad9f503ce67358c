"""The gate's rule on intervals computed from hand-made predictions: promote on evidence, hold on noise."""

import numpy as np
import pytest

from sentiment_pipeline.deploy.quality_gate import DEFAULT_MARGIN, decide
from sentiment_pipeline.training.comparison import paired_bootstrap

LABELS = ["negative", "neutral", "positive"]
N = 2000


def _labels(truth, right_share, rng):
    """Predictions right on about ``right_share`` of the texts, a random label elsewhere."""
    return np.where(rng.random(len(truth)) < right_share, truth, rng.choice(LABELS, size=len(truth)))


def _interval(deployed_share, candidate_share, seed=0):
    rng = np.random.default_rng(seed)
    truth = rng.choice(LABELS, size=N)
    deployed, candidate = _labels(truth, deployed_share, rng), _labels(truth, candidate_share, rng)
    return paired_bootstrap(list(truth), list(deployed), list(candidate), LABELS, resamples=500)


def test_a_clearly_better_model_is_promoted():
    interval = _interval(0.70, 0.80)
    promote, reason = decide(interval["b"], 0.5, interval, DEFAULT_MARGIN)
    assert interval["low"] > 0 and promote and "stays above −0.005" in reason


def test_a_clearly_worse_model_is_held():
    interval = _interval(0.80, 0.70)
    promote, reason = decide(interval["b"], 0.5, interval, DEFAULT_MARGIN)
    assert interval["high"] < 0 and not promote and "may be worse than the deployed model" in reason


def test_a_tie_whose_interval_reaches_below_the_margin_is_held():
    # equally good on average, wrong on different texts: the difference is noise, and it may be a regression
    interval = _interval(0.75, 0.75, seed=3)
    assert abs(interval["delta"]) < 0.02 and interval["low"] < -DEFAULT_MARGIN < interval["high"]
    promote, _ = decide(interval["b"], 0.5, interval, DEFAULT_MARGIN)
    assert not promote
    # ... while a margin wider than the noise lets the same tie through
    assert decide(interval["b"], 0.5, interval, margin=0.1)[0]


def test_the_same_predictions_are_a_tie_that_promotes():
    rng = np.random.default_rng(0)
    truth = list(rng.choice(LABELS, size=300))
    same = list(_labels(np.array(truth), 0.8, rng))
    interval = paired_bootstrap(truth, same, same, LABELS, resamples=100)
    assert decide(interval["b"], 0.5, interval, DEFAULT_MARGIN)[0]


@pytest.mark.parametrize(
    ("score", "interval", "promote", "reason"),
    [
        (0.75, None, True, "nothing deployed to compare with"),
        (0.65, None, False, "below the threshold 0.7000"),
        (0.65, {"delta": 0.2, "low": 0.1, "high": 0.3}, False, "below the threshold"),  # better, still too weak
        (0.75, {"delta": 0.0, "low": -0.005, "high": 0.005}, False, "reaches below −0.005"),  # strictly above
    ],
)
def test_the_threshold_always_applies_and_the_bound_must_be_strictly_above_minus_margin(
    score, interval, promote, reason
):
    decision, why = decide(score, 0.70, interval, DEFAULT_MARGIN)
    assert decision is promote and reason in why
