"""The gate's rule on intervals computed from hand-made predictions: promote on evidence, hold on noise."""

import json

import numpy as np
import pytest

from sentiment_pipeline.training.comparison import paired_bootstrap
from sentiment_pipeline.training.quality_gate import DEFAULT_MARGIN, decide
from support.records import write_succeeded_run

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


# ---- `sentiment-pipeline gate` on hand-made records: which deployed run it may compare with --------------------------


def _gate(store, *deployed: str) -> int:
    from sentiment_pipeline.cli import main

    return main(["gate", "--store", str(store), "--run-id", "candidate", *deployed, "--min-macro-f1", "0.5"])


def test_a_deployed_run_that_is_not_in_the_store_is_an_error_not_a_promotion_on_the_threshold(tmp_path, capsys):
    """It promoted on the threshold alone with one warning: a typo in the deployed run skipped the comparison."""
    write_succeeded_run(tmp_path, "candidate")
    assert _gate(tmp_path, "--deployed", "no-such-run") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "deployed run no-such-run" in err[0], err
    assert "--deployed none" in err[0]  # says how to let the threshold alone decide
    assert not (tmp_path / "runs" / "candidate" / "gate.json").exists()


def test_the_gate_needs_the_deployed_run_named_or_none(tmp_path, capsys):
    write_succeeded_run(tmp_path, "candidate")
    with pytest.raises(SystemExit) as exited:
        _gate(tmp_path)
    assert exited.value.code == 2 and "--deployed" in capsys.readouterr().err
    assert _gate(tmp_path, "--deployed", "none") == 0  # said so: the threshold alone decides
    gate = json.loads((tmp_path / "runs" / "candidate" / "gate.json").read_text())
    assert gate["decision"] == "promote" and gate["deployed"] is None
    assert "nothing deployed to compare with" in gate["reason"]


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ("metrics", "metrics.json does not match its manifest"),
        ("model", "model/model.onnx does not match its manifest"),
        ("split", "data/test.csv does not match its manifest"),
        ("added", "model/extra.bin is not in its manifest"),
        ("missing", "model/labels.json recorded in its manifest but missing"),
    ],
)
def test_a_deployed_run_whose_record_changed_after_the_run_holds_the_candidate_with_the_reason(
    tmp_path, capsys, change, named
):
    write_succeeded_run(tmp_path, "candidate")
    write_succeeded_run(tmp_path, "champion", macro_f1=0.9)
    run = tmp_path / "runs" / "champion"
    if change == "metrics":
        (run / "metrics.json").write_text('{"model": {"macro_f1": 0.1}}')
    elif change == "model":
        (run / "model" / "model.onnx").write_bytes(b"another model")
    elif change == "split":
        (run / "data" / "test.csv").write_text("text,label_text\nonly me,positive\n")
    elif change == "added":
        (run / "model" / "extra.bin").write_bytes(b"?")
    else:
        (run / "model" / "labels.json").unlink()

    assert _gate(tmp_path, "--deployed", "champion") == 0  # a decision, not a crash
    out, err = capsys.readouterr()
    gate = json.loads((tmp_path / "runs" / "candidate" / "gate.json").read_text())
    assert gate["decision"] == "hold" and gate["promote"] is False
    assert "deployed run champion" in gate["reason"] and named in gate["reason"], gate["reason"]
    assert gate["deployed_unusable"]["run_id"] == "champion" and named in gate["deployed_unusable"]["error"]
    assert json.loads(out.strip().splitlines()[-1])["decision"] == "hold"
    assert "quality gate: hold run candidate" in err
