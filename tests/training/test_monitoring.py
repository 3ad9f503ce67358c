"""The statistics of monitoring (sentiment_pipeline/training/monitoring.py), on small hand-made texts and lines."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from sentiment_pipeline.errors import BadInput, DatasetError, ParamError, TooFewTexts
from sentiment_pipeline.inference import LABELS_FILE, TOKENIZER_FILE
from sentiment_pipeline.inference.tokenizer import TweetTokenizer
from sentiment_pipeline.records import record
from sentiment_pipeline.records.store import LocalStore
from sentiment_pipeline.training import monitoring
from sentiment_pipeline.training.data import LABELS

EVERYDAY = (
    "coffee morning sunny happy tired work weekend friends movie music lunch love hate rain bus late early phone "
    "game dinner sleep school beach birthday party mom dad dog cat song concert shopping pizza headache traffic"
).split()
MARKETS = (
    "stocks bonds yield inflation earnings dividend nasdaq futures hedge portfolio leverage volatility treasury "
    "liquidity margin ipo rally selloff bearish bullish forex commodities crude gold merger acquisition quarterly"
).split()
FAST = {"permutations": 30}  # enough for the null's 95th percentile on texts this small, and quick


_VOCABULARY = monitoring.vocabulary_and_length(
    pd.DataFrame({"length": [9.0], "tokens": [2.0], "unknown_tokens": [0.0]}),
    pd.DataFrame({"length": [9.0], "tokens": [2.0], "unknown_tokens": [0.0]}),
)


def _texts(words: list[str], n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(words, size=rng.integers(5, 10))) for _ in range(n)]


def _labels(n: int, seed: int, shares=(0.3, 0.4, 0.3)) -> list[str]:
    """Labels in exactly these shares, shuffled: sampling them would add noise of its own (JS about 0.05 at 300)."""
    counts = np.floor(np.array(shares) * n).astype(int)
    counts[1] += n - counts.sum()
    return list(np.random.default_rng(seed).permutation(np.repeat(LABELS, counts)))


def _tokenizer() -> TweetTokenizer:
    tokenizer = TweetTokenizer(min_count=1)
    return tokenizer.fit(tokenizer.tokenize(_texts(EVERYDAY, 400, seed=99)))


def _reference(n: int = 300) -> monitoring.Reference:
    return monitoring.Reference(
        run_id="ref-run",
        texts=_texts(EVERYDAY, n, seed=1),
        predictions=_labels(n, seed=2),
        tokenizer=_tokenizer(),
        labels=list(LABELS),
        recorded_macro_f1=0.75,
    )


def _lines(texts: list[str], labels: list[str], hashed: bool = False, tokenizer: TweetTokenizer | None = None):
    lines = []
    for i, (text, label) in enumerate(zip(texts, labels, strict=True)):
        line = {"request_id": f"r{i}", "label": label, "scores": {label: 0.9}}
        if hashed:
            facts = monitoring.token_facts([text], tokenizer).iloc[0]
            line.update(
                text_sha256=monitoring.text_sha256(text),
                text_length=int(facts["length"]),
                tokens=int(facts["tokens"]),
                unknown_tokens=int(facts["unknown_tokens"]),
            )
        else:
            line["text"] = text
        lines.append(line)
    return lines


# ---- the whole measurement -----------------------------------------------------------------------------------------
def test_texts_of_the_same_kind_are_no_drift():
    """One seeded draw (permutation p-value 0.42); how often a draw is called drift by chance is the slow test's."""
    reference = _reference()
    lines = _lines(_texts(EVERYDAY, 300, seed=4), _labels(300, seed=4))

    doc = monitoring.monitor(lines, reference, **FAST)

    assert doc["drift"] is False and doc["drift_reasons"] == []
    assert doc["text_drift"] is False and doc["text_drift_auc"] < doc["text_drift_threshold"]
    assert doc["prediction_js"] < monitoring.PREDICTION_JS_THRESHOLD
    assert doc["oov_rate"] == pytest.approx(0.0) and doc["reference_oov_rate"] == pytest.approx(0.0)
    assert doc["n_texts"] == 300 and doc["mode"] == "full" and doc["reference_run_id"] == "ref-run"
    assert doc["sentences"][0] == "No drift found in 300 captured texts."
    assert json.loads(json.dumps(doc)) == doc  # drift.json: plain JSON


def test_texts_of_another_kind_are_drift_and_say_what_moved():
    reference = _reference()
    lines = _lines(_texts(MARKETS, 300, seed=3), _labels(300, seed=4, shares=(0.05, 0.9, 0.05)))

    doc = monitoring.monitor(lines, reference, **FAST)

    assert doc["drift"] is True and doc["drift_reasons"] == ["text", "predictions", "unknown words"]
    assert doc["text_drift_auc"] > 0.95 and doc["text"]["null"]["p_value"] <= 1 / 31
    assert set(doc["text"]["typical_terms"]) <= set(MARKETS)
    assert len(doc["text"]["typical_texts"]) == monitoring.DRIFT_TYPICAL_TEXTS
    assert doc["oov_rate"] == pytest.approx(1.0) and doc["vocabulary"]["oov_drift"] is True
    assert doc["sentences"][0] == "Drift in 300 captured texts: text, predictions, unknown words."
    assert any("different kind of text" in s for s in doc["sentences"])


def test_too_few_texts_are_refused_with_an_error_the_cli_maps_to_exit_2():
    lines = _lines(_texts(EVERYDAY, 99, seed=3), _labels(99, seed=4))
    with pytest.raises(TooFewTexts, match=r"only 99 captured text\(s\); at least 100"):
        monitoring.monitor(lines, _reference())
    assert issubclass(TooFewTexts, DatasetError) and issubclass(TooFewTexts, BadInput)
    with pytest.raises(TooFewTexts, match="distinct captured"):  # 150 lines, but one text repeated
        monitoring.text_drift(["same text"] * 150, _reference().texts)


def test_hash_mode_measures_predictions_unknown_words_and_lengths_but_not_text_drift():
    reference = _reference()
    texts = [f"{text} blockchain" for text in _texts(EVERYDAY, 200, seed=3)]  # one unknown word in each
    lines = _lines(texts, _labels(200, seed=4), hashed=True, tokenizer=reference.tokenizer)

    doc = monitoring.monitor(lines, reference, oov_rate_increase_threshold=0.05, **FAST)

    assert doc["mode"] == "hash" and doc["text_drift_measurable"] is False and doc["text_drift"] is None
    assert doc["text_drift_auc"] is None and "not measurable in hash mode" in doc["text"]["reason"]
    assert any("not measurable in hash mode" in s for s in doc["sentences"])
    tokens = sum(line["tokens"] for line in lines)
    assert doc["oov_rate"] == pytest.approx(200 / tokens) and doc["oov_drift"] is True
    assert doc["drift_reasons"] == ["unknown words"]
    assert doc["mean_length"] == pytest.approx(np.mean([len(t) for t in texts]))
    assert doc["prediction_js"] < monitoring.PREDICTION_JS_THRESHOLD


def test_mixed_lines_measure_text_drift_on_those_with_text_and_the_rest_on_all():
    reference = _reference()
    texts = _texts(EVERYDAY, 210, seed=3)
    lines = _lines(texts[:150], _labels(150, seed=4))
    lines += _lines(texts[150:], _labels(60, seed=5), hashed=True, tokenizer=reference.tokenizer)

    doc = monitoring.monitor(lines, reference, **FAST)

    assert doc["mode"] == "mixed" and doc["text"]["n_captured"] == 150 and doc["prediction"]["n_captured"] == 210
    assert doc["vocabulary"]["length"]["n"] == 210
    assert doc["mean_length"] == pytest.approx(np.mean([len(t) for t in texts]))
    assert monitoring.captured_facts(lines, reference.tokenizer).equals(
        monitoring.token_facts(texts, reference.tokenizer)
    )


def test_a_hashed_line_without_counts_is_left_out_of_the_rate_and_counted():
    lines = [{"label": "neutral", "text_sha256": "ab", "text_length": 10, "tokens": 4, "unknown_tokens": 1}] * 3
    lines += [{"label": "neutral", "text_sha256": "cd", "text_length": 12, "tokens": None, "unknown_tokens": None}]
    facts = monitoring.captured_facts(lines, _tokenizer())
    result = monitoring.vocabulary_and_length(facts, monitoring.token_facts(["coffee morning"], _tokenizer()))
    assert result["oov_rate"] == pytest.approx(0.25) and result["texts_without_token_counts"] == 1
    assert result["length"]["n"] == 4 and result["length"]["mean"] == pytest.approx(10.5)


def test_unknown_parameters_are_refused():
    lines = _lines(_texts(EVERYDAY, 100, seed=3), _labels(100, seed=4))
    with pytest.raises(ParamError, match="text_drift_threshold"):
        monitoring.monitor(lines, _reference(), text_drift_threshold=0.6)


# ---- 1. text drift -------------------------------------------------------------------------------------------------
def test_below_the_fixed_threshold_size_the_permutation_null_sets_the_threshold():
    captured, reference = _texts(EVERYDAY, 200, seed=3), _texts(EVERYDAY, 500, seed=1)
    result = monitoring.text_drift(captured, reference, **FAST)
    assert result["threshold_kind"] == "permutation" and result["n_per_side"] == 200  # the reference subsampled
    assert result["null"]["permutations"] == 30 and 0.5 < result["threshold"] < 0.65
    assert result["threshold"] != monitoring.TEXT_DRIFT_AUC_THRESHOLD and result["drift"] is False
    assert monitoring.text_drift(captured, reference, **FAST) == result  # seeded: the same texts, the same answer


@pytest.mark.slow
def test_on_texts_of_the_same_kind_the_permutation_test_calls_drift_about_one_time_in_20():
    """60 draws, 30 shuffles each: drift when the AUC is above 29 of 30 null AUCs, 2 times in 31 (6.5%) by chance.
    Nine or fewer of 60 (more: probability under 1%); the p-values are about uniform."""
    reference = _texts(EVERYDAY, 600, seed=1)
    results = [
        monitoring.text_drift(_texts(EVERYDAY, 150, seed=1000 + i), reference, seed=i, permutations=30)
        for i in range(60)
    ]
    assert sum(r["drift"] for r in results) <= 9
    assert 0.3 < np.mean([r["null"]["p_value"] <= 0.5 for r in results]) < 0.7
    assert all(r["threshold_kind"] == "permutation" for r in results)


def test_from_the_fixed_threshold_size_on_the_auc_is_held_against_the_fixed_threshold():
    captured, reference = _texts(MARKETS, 150, seed=3), _texts(EVERYDAY, 150, seed=1)
    result = monitoring.text_drift(captured, reference, min_texts_for_fixed_threshold=150)
    assert result["threshold_kind"] == "fixed" and result["null"] is None
    assert result["threshold"] == monitoring.TEXT_DRIFT_AUC_THRESHOLD and result["drift"] is True


def test_the_classifier_reads_texts_as_the_model_does():
    """Handles, URLs and apostrophe characters differ, the cleaned texts do not: no drift. Repeats count once."""
    reference = _texts(EVERYDAY, 200, seed=1)
    captured = [f"@someone {t} http://x.co/{i}".replace("'", "`") for i, t in enumerate(_texts(EVERYDAY, 200, seed=3))]
    result = monitoring.text_drift(captured + captured[:50], [f"@other {t} https://y.org" for t in reference], **FAST)
    assert result["drift"] is False and result["n_captured"] == 200
    assert all(t["text"].startswith("@someone") for t in result["typical_texts"])  # shown as sent


def test_permutations_are_needed_below_the_fixed_threshold_size():
    with pytest.raises(ParamError, match="permutations"):
        monitoring.text_drift(_texts(EVERYDAY, 120, seed=3), _texts(EVERYDAY, 120, seed=1), permutations=0)


# ---- 2. prediction drift -------------------------------------------------------------------------------------------
def test_the_js_distance_is_0_for_identical_and_1_for_disjoint_distributions():
    assert monitoring.js_distance([0.2, 0.5, 0.3], [0.2, 0.5, 0.3]) == 0.0
    assert monitoring.js_distance([1, 0, 0], [0, 0.5, 0.5]) == pytest.approx(1.0)
    same = monitoring.prediction_drift(["neutral", "positive"] * 50, ["positive", "neutral"] * 10)
    assert same["js"] == 0.0 and same["drift"] is False
    disjoint = monitoring.prediction_drift(["negative"] * 100, ["positive"] * 40 + ["neutral"] * 60)
    assert disjoint["js"] == pytest.approx(1.0) and disjoint["drift"] is True
    assert disjoint["captured"] == {"negative": 1.0, "neutral": 0.0, "positive": 0.0}


def test_the_prediction_threshold_is_inclusive_and_labels_are_checked():
    captured, reference = ["negative"] * 60 + ["positive"] * 40, ["negative"] * 40 + ["positive"] * 60
    js = monitoring.prediction_drift(captured, reference)["js"]
    assert monitoring.prediction_drift(captured, reference, prediction_js_threshold=js)["drift"] is True
    with pytest.raises(DatasetError, match="'happy'"):
        monitoring.prediction_drift(["happy"], ["neutral"])


def test_the_distance_chance_alone_reaches_shrinks_with_more_texts_and_is_warned_about():
    from scipy.spatial.distance import jensenshannon

    shares = np.array([0.27, 0.42, 0.31])
    rows = np.random.default_rng(0).dirichlet([1, 1, 1], size=20)
    direct = [jensenshannon(row, shares, base=2) for row in rows]
    assert monitoring._js_distances(rows, shares) == pytest.approx(direct)
    at_100, at_600 = monitoring.chance_js(shares, 100), monitoring.chance_js(shares, 600)
    assert 0.09 < at_100 < 0.13 and 0.035 < at_600 < 0.06  # the benchmark's samples: 0.113 and 0.049

    few = monitoring.prediction_drift(_labels(100, seed=1, shares=shares), _labels(300, seed=2, shares=shares))
    assert few["chance_p95"] == pytest.approx(monitoring.chance_js(list(few["reference"].values()), 100))
    words = monitoring.sentences(100, monitoring.text_drift_not_measurable(), few, _VOCABULARY, None, [])
    assert any("chance alone reaches" in s for s in words)
    many = monitoring.prediction_drift(_labels(600, seed=1, shares=shares), _labels(300, seed=2, shares=shares))
    words = monitoring.sentences(600, monitoring.text_drift_not_measurable(), many, _VOCABULARY, None, [])
    assert not any("chance alone reaches" in s for s in words)


# ---- 3. unknown words and lengths ----------------------------------------------------------------------------------
def test_unknown_tokens_are_those_outside_the_tokenizers_word_vocabulary():
    facts = monitoring.token_facts(["coffee blockchain morning", "Pizza!!"], _tokenizer())
    assert facts["tokens"].tolist() == [3, 3]  # pizza ! !
    assert facts["unknown_tokens"].tolist() == [1, 2]  # blockchain; "!" twice: in no text the tokenizer saw
    assert facts["length"].tolist() == [25, 7]


def test_a_rise_in_unknown_words_beyond_the_threshold_is_flagged_and_lengths_are_summarised():
    reference = pd.DataFrame({"length": [10.0, 20, 30, 40], "tokens": [10.0] * 4, "unknown_tokens": [1.0] * 4})
    captured = reference.assign(unknown_tokens=[2.0] * 4, length=[100.0] * 4)
    result = monitoring.vocabulary_and_length(captured, reference, oov_rate_increase_threshold=0.05)
    assert result["oov_rate"] == pytest.approx(0.2) and result["reference_oov_rate"] == pytest.approx(0.1)
    assert result["oov_rate_increase"] == pytest.approx(0.1) and result["oov_drift"] is True
    assert monitoring.vocabulary_and_length(captured, reference, oov_rate_increase_threshold=0.1)["oov_drift"] is False
    assert result["reference_length"]["mean"] == 25 and result["reference_length"]["p50"] == 25
    assert result["length"] == {"n": 4, "mean": 100, "p10": 100, "p25": 100, "p50": 100, "p75": 100, "p90": 100}


# ---- 4. live quality -----------------------------------------------------------------------------------------------
def test_the_live_interval_contains_the_point_estimate_beside_the_recorded_score():
    truth = _labels(300, seed=5)
    rng = np.random.default_rng(6)
    answered = [t if rng.random() < 0.7 else str(rng.choice(LABELS)) for t in truth]

    result = monitoring.live_quality(truth, answered, recorded_macro_f1=0.95, resamples=500)

    from sklearn.metrics import f1_score

    assert result["macro_f1"] == pytest.approx(f1_score(truth, answered, labels=list(LABELS), average="macro"))
    assert result["low"] < result["macro_f1"] < result["high"] and result["n"] == 300
    assert result["recorded_test_macro_f1"] == 0.95 and result["quality_below_recorded"] is True
    assert monitoring.live_quality(truth, answered, resamples=500) == {
        **result,
        "recorded_test_macro_f1": None,
        "quality_below_recorded": None,
    }


def test_labelled_texts_match_captured_lines_by_request_id_or_by_text_hashed_or_not():
    texts = ["good day", "bad day", "a day"]
    full = _lines(texts, ["positive", "positive", "neutral"])
    hashed = _lines(texts, ["positive", "positive", "neutral"], hashed=True, tokenizer=_tokenizer())
    by_text = pd.DataFrame({"text": ["bad day", "good day", "unseen"], "label_text": ["Negative", "positive", "x"]})
    assert monitoring.match_truth(full, by_text) == (["positive", "negative"], ["positive", "positive"])
    assert monitoring.match_truth(hashed, by_text) == (["positive", "negative"], ["positive", "positive"])
    by_id = pd.DataFrame({"request_id": ["r2"], "label_text": ["neutral"]})
    assert monitoring.match_truth(full, by_id) == (["neutral"], ["neutral"])
    with pytest.raises(DatasetError, match="request_id or a text column"):
        monitoring.match_truth(full, pd.DataFrame({"label_text": ["neutral"]}))


def test_no_matching_labels_give_no_live_quality_and_a_sentence_that_says_so():
    reference = _reference()
    lines = _lines(_texts(EVERYDAY, 120, seed=3), _labels(120, seed=4))
    doc = monitoring.monitor(lines, reference, truth=pd.DataFrame({"text": ["elsewhere"], "label_text": ["neutral"]}))
    assert doc["live_quality"]["n"] == 0 and doc["live_macro_f1"] is None
    assert "None of the labelled texts matched" in doc["sentences"][-1]


# ---- the reference from a run's record -----------------------------------------------------------------------------
class _FakePredictor:
    def __init__(self, tokenizer: TweetTokenizer) -> None:
        self.tokenizer, self.labels = tokenizer, ["positive", "negative", "neutral"]  # not LABELS' order

    def predict_proba(self, texts):
        return np.array([[0.1, 0.8, 0.1] if "bad" in text else [0.7, 0.2, 0.1] for text in texts])


def test_the_reference_is_the_runs_test_split_its_models_answers_and_its_recorded_score(tmp_path):
    store, tokenizer = LocalStore(tmp_path / "store"), _tokenizer()
    files = {
        record.split_path("test"): b"text,label_text\ngood coffee,positive\nbad traffic,negative\n",
        record.METRICS: record.to_json_bytes({"model": {"macro_f1": 0.71}}),
        record.MODEL_DIR + TOKENIZER_FILE: tokenizer.to_json().encode(),
        record.MODEL_DIR + LABELS_FILE: b'{"labels": ["positive", "negative", "neutral"]}',
    }
    for name, data in files.items():
        store.write_bytes(record.run_key("r1", name), data)
    recorded = [{"path": n, "sha256": record.sha256_bytes(d), "bytes": len(d)} for n, d in files.items()]
    manifest = {"run_id": "r1", "status": record.SUCCEEDED, "files": recorded}
    store.write_bytes(record.run_key("r1", record.MANIFEST), record.to_json_bytes(manifest))
    loaded = []

    reference = monitoring.load_reference(
        store, "r1", tmp_path / "work", lambda folder: loaded.append(folder) or _FakePredictor(tokenizer)
    )

    assert reference.texts == ["good coffee", "bad traffic"] and reference.predictions == ["positive", "negative"]
    assert reference.recorded_macro_f1 == 0.71 and reference.labels == ["positive", "negative", "neutral"]
    assert loaded == [tmp_path / "work" / "model"] and (loaded[0] / TOKENIZER_FILE).is_file()
    assert reference.tokenizer is tokenizer
