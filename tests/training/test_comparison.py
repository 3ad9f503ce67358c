"""The statistics of comparing two models, on hand-made predictions checked against direct computations."""

import numpy as np
import pytest
from sklearn.metrics import f1_score

from sentiment_pipeline.training.comparison import mcnemar, paired_bootstrap

LABELS = ["negative", "neutral", "positive"]


def _predictions(n: int = 300, seed: int = 7):
    rng = np.random.default_rng(seed)
    truth = rng.choice(LABELS, size=n)
    a = np.where(rng.random(n) < 0.70, truth, rng.choice(LABELS, size=n))  # right about 77 % of the time
    b = np.where(rng.random(n) < 0.85, truth, rng.choice(LABELS, size=n))  # about 90 %
    return list(truth), list(a), list(b)


def test_the_bootstrap_interval_is_the_direct_computation_over_the_same_resamples():
    truth, a, b = _predictions()
    result = paired_bootstrap(truth, a, b, LABELS, resamples=300, seed=3)

    picks = np.random.default_rng(3).integers(0, len(truth), size=(300, len(truth)))
    t, pa, pb = (np.array(v) for v in (truth, a, b))
    direct = [
        f1_score(t[p], pb[p], labels=LABELS, average="macro", zero_division=0)
        - f1_score(t[p], pa[p], labels=LABELS, average="macro", zero_division=0)
        for p in picks
    ]
    assert result["low"] == pytest.approx(np.quantile(direct, 0.025))
    assert result["high"] == pytest.approx(np.quantile(direct, 0.975))
    assert result["a"] == pytest.approx(f1_score(truth, a, labels=LABELS, average="macro"))
    assert result["delta"] == pytest.approx(result["b"] - result["a"])
    assert 0 < result["low"] < result["delta"] < result["high"]  # B is clearly better on 300 texts
    assert paired_bootstrap(truth, a, b, LABELS, resamples=300, seed=3) == result  # same seed, same interval


def test_a_model_against_itself_has_a_zero_width_interval_and_swapping_flips_the_sign():
    truth, a, b = _predictions()
    same = paired_bootstrap(truth, a, a, LABELS, resamples=200)
    assert same["delta"] == same["low"] == same["high"] == 0
    forward, backward = (paired_bootstrap(truth, x, y, LABELS, resamples=200) for x, y in ((a, b), (b, a)))
    assert backward["delta"] == pytest.approx(-forward["delta"])
    assert backward["low"] == pytest.approx(-forward["high"]) and backward["high"] == pytest.approx(-forward["low"])
    with pytest.raises(ValueError, match="equally long"):
        paired_bootstrap(truth, a, b[:-1], LABELS)


def test_mcnemar_counts_the_texts_only_one_model_gets_right():
    truth = ["positive"] * 12
    a = ["positive"] * 2 + ["negative"] * 10  # right on texts 0-1
    b = ["positive"] * 11 + ["negative"]  # right on texts 0-10
    result = mcnemar(truth, a, b)
    assert (result["only_a"], result["only_b"]) == (0, 9)
    assert result["p_value"] == pytest.approx(2 * 0.5**9)  # exact two-sided binomial: 9 of 9 flips one way
    assert mcnemar(truth, a, a) == {"only_a": 0, "only_b": 0, "p_value": 1.0}
