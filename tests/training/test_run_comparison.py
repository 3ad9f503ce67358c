"""The comparison document and the choice of shared texts, on hand-made frames and probabilities (no model)."""

import numpy as np
import pandas as pd
import pytest

from sentiment_pipeline.errors import DatasetError
from sentiment_pipeline.training.run_comparison import (
    RecordedRun,
    comparison_document,
    probabilities,
    score_runs,
    verdict,
)

LABELS = ["negative", "neutral", "positive"]


def _frame(rows):
    return pd.DataFrame(rows, columns=["text", "label_text"])


class _Constant:
    """A model that gives every text the same probabilities, in its own label order."""

    def __init__(self, labels, row):
        self.labels, self.row = labels, row

    def predict_proba(self, texts):
        return np.tile(self.row, (len(texts), 1))


def _run(run_id, train, val, test, predictor=None):
    splits = {"train": _frame(train), "val": _frame(val), "test": _frame(test)}
    return RecordedRun(run_id, {}, {}, {}, splits, predictor or _Constant(LABELS, [0.2, 0.3, 0.5]), "onnx")


def test_the_shared_texts_leave_out_anything_either_model_trained_or_validated_on():
    old = _run("old", [("I hate mondays", "negative")], [("meh", "neutral")], [("great day", "positive")])
    # the new run's data grew: its test split holds a tweet the old model trained on (in another case and spacing)
    new = _run(
        "new",
        [("lovely", "positive")],
        [("ok then", "neutral")],
        [("i  HATE mondays", "negative"), ("great day", "positive"), ("awful", "negative")],
    )

    scored = score_runs([old, new], LABELS)

    assert sorted(scored.texts["text"]) == ["awful", "great day"]  # the shared test tweet counted once
    assert scored.info == {"source": "test splits", "n": 2, "excluded_seen_in_training": 1}
    assert sorted(scored.outputs) == ["a", "b"] and scored.outputs["b"].shape == (2, 3)  # each model on those texts

    eval_file = _frame([("lovely", "positive"), ("fine", "neutral"), ("meh", "neutral")])
    scored = score_runs([old, new], LABELS, eval_file)
    assert list(scored.texts["text"]) == ["fine"] and scored.info["source"] == "eval_data"
    assert scored.info["excluded_seen_in_training"] == 2

    with pytest.raises(DatasetError, match="did not train on"):
        score_runs([old, new], LABELS, _frame([("lovely", "positive")]))


def test_each_run_is_scored_in_the_label_order_asked_for():
    shuffled = _Constant(["positive", "negative", "neutral"], [0.5, 0.2, 0.3])  # a run that lists labels differently
    run = _run("r", [("x", "neutral")], [("y", "neutral")], [("z", "positive")], shuffled)
    scored = score_runs([run], LABELS)
    assert scored.outputs["a"].tolist() == [[0.2, 0.3, 0.5]]


def test_the_document_scores_both_sides_on_the_same_texts_and_lists_changed_labels_most_confident_first():
    frame = _frame([("a", "positive"), ("b", "negative"), ("c", "neutral"), ("d", "positive"), ("e", "negative")])
    #                  neg  neu  pos
    proba_a = np.array([[0.1, 0.2, 0.7], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1], [0.6, 0.3, 0.1], [0.8, 0.1, 0.1]])
    proba_b = np.array([[0.1, 0.1, 0.8], [0.9, 0.05, 0.05], [0.1, 0.8, 0.1], [0.2, 0.7, 0.1], [0.1, 0.3, 0.6]])
    a = {"run_id": "A", "params": {"seed": 1, "epochs": 2}, "data": {"sha256": "x"}}
    b = {"run_id": "B", "params": {"seed": 2, "epochs": 2}, "data": {"sha256": "x"}}

    doc = comparison_document(frame, LABELS, proba_a, proba_b, a=a, b=b, texts={"source": "t"}, resamples=200)

    assert doc["params_differences"] == [{"name": "seed", "a": 1, "b": 2}] and doc["same_data"] is True
    assert doc["metrics"]["a"]["accuracy"] == pytest.approx(3 / 5) and doc["metrics"]["b"]["accuracy"] == 3 / 5
    changed = doc["changed"]
    assert [row["text"] for row in changed["shown"]] == ["b", "d", "e"]  # B's confidence 0.9, 0.7, 0.6
    assert [row["outcome"] for row in changed["shown"]] == ["fixed", "still wrong", "broken"]
    assert (changed["n"], changed["fixed"], changed["broken"]) == (3, 1, 1)
    assert doc["mcnemar"]["only_a"] == 1 and doc["mcnemar"]["only_b"] == 1
    per_class = doc["per_class"]["negative"]
    assert per_class["delta_f1"] == pytest.approx(per_class["f1_b"] - per_class["f1_a"])
    assert doc["macro_f1"]["delta"] == pytest.approx(doc["metrics"]["b"]["macro_f1"] - doc["metrics"]["a"]["macro_f1"])
    assert "B − A = " in verdict(doc) and "McNemar p" in verdict(doc)


class _Reordered:
    """A predictor whose labels come in another order than the comparison's."""

    labels = ["positive", "negative", "neutral"]

    def predict_proba(self, texts):
        return np.tile([0.6, 0.3, 0.1], (len(texts), 1))


def test_probabilities_come_back_in_the_comparisons_label_order():
    proba = probabilities(_Reordered(), ["x", "y"], LABELS)
    assert proba.tolist() == [[0.3, 0.1, 0.6]] * 2
    with pytest.raises(DatasetError, match="different labels"):
        probabilities(_Reordered(), ["x"], ["negative", "positive"])


def _document():
    frame = _frame([("a", "positive"), ("b", "negative"), ("c", "neutral"), ("d", "positive"), ("e", "negative")])
    proba_a = np.array([[0.1, 0.2, 0.7], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1], [0.6, 0.3, 0.1], [0.8, 0.1, 0.1]])
    proba_b = np.array([[0.1, 0.1, 0.8], [0.91234, 0.04, 0.04766], [0.1, 0.8, 0.1], [0.2, 0.7, 0.1], [0.1, 0.3, 0.6]])
    data = {"name": "tweets.csv", "rows": 5, "sha256": "0123456789abcdef"}
    a = {"run_id": "A", "params": {"seed": 1}, "data": data, "recorded_test_macro_f1": None}
    b = {"run_id": "B", "params": {"seed": 2}, "data": data, "recorded_test_macro_f1": 0.81234}
    texts = {"source": "test splits", "n": 5, "excluded_seen_in_training": 2}
    return comparison_document(frame, LABELS, proba_a, proba_b, a=a, b=b, texts=texts, resamples=200)


def _cells(styler) -> list[str]:
    import re

    return re.findall(r'<td id="[^"]*" class="data[^"]*" >([^<]*)</td>', styler.to_html())


def test_the_report_tables_print_counts_as_integers_and_scores_rounded():
    from sentiment_pipeline.training.run_comparison import (
        changed_report_table,
        headline_table,
        interval_table,
        per_class_table,
    )

    document = _document()
    per_class = _cells(per_class_table(document))
    assert per_class[0] == "2" and all(len(cell.split(".")[1]) == 4 for cell in per_class[1:6])  # support, scores
    assert per_class[3].startswith(("+", "-"))  # F1 B − A, signed
    interval = _cells(interval_table(document))
    assert interval[3:6] == ["200", "1", "1"] and interval[0] == f"{document['macro_f1']['delta']:+.4f}"
    headline = _cells(headline_table(document))
    assert headline[3] == "not recorded" and headline[8] == "0.8123" and headline[4] == "0123456789ab"
    changed = _cells(changed_report_table(document))
    assert changed[:7] == ["b", "negative", "neutral", "negative", "0.912", "0.700", "fixed"]


def test_the_comparison_reports_header_names_both_runs_their_data_and_the_texts():
    from sentiment_pipeline.training.run_comparison import report_header

    header = report_header(_document(), compared_at="2026-12-04T17:00:00+00:00")
    facts = dict(header.facts)
    assert header.page_title == "Comparison report · run B against run A"
    assert facts["Run A"] == "A" and facts["Run B"] == "B"
    assert facts["A's data"] == "tweets.csv · 5 rows · sha256 0123456789ab"
    assert facts["Texts"].startswith("5 texts from the union of both runs' test splits; 2 left out")
    assert facts["Compared"] == "2026-12-04 17:00 UTC"


# ---- `sentiment-pipeline compare` on real recorded runs -------------------------------------------------------------
@pytest.mark.slow
def test_compare_scores_two_runs_on_texts_neither_trained_on_and_stores_the_report_in_bs_record(
    finished_run, labelled_csv, tmp_path
):
    import hashlib
    import json
    import shutil

    from support.project import SHARED_DATA, TINY, as_args, cli

    source_store, first = finished_run
    store = tmp_path / "store"
    shutil.copytree(source_store, store)
    cli("run", "--data", str(labelled_csv), "--store", str(store), "--run-id", "other-seed",
        *as_args({**TINY, "seed": 7, "split_seed": 7}), check=True)  # fmt: skip

    result = cli("compare", "--store", str(store), first, "other-seed", "--resamples", "300")

    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    document = json.loads((store / "runs" / "other-seed" / "comparisons" / f"{first}.json").read_text())
    assert summary["json"].endswith(f"runs/other-seed/comparisons/{first}.json")
    assert document["a"]["run_id"] == first and document["b"]["run_id"] == "other-seed"
    assert {"name": "seed", "a": 42, "b": 7} in document["params_differences"] and document["same_data"]
    assert {"name": "split_seed", "a": 42, "b": 7} in document["params_differences"]
    # another split: the texts are both test splits, less anything either model trained or validated on
    runs = store / "runs"
    trained = {
        text
        for run in (first, "other-seed")
        for part in ("train", "val")
        for text in pd.read_csv(runs / run / "data" / f"{part}.csv", dtype=str, keep_default_na=False)["text"]
    }
    tests = pd.concat(
        [
            pd.read_csv(runs / run / "data" / "test.csv", dtype=str, keep_default_na=False)
            for run in (first, "other-seed")
        ]
    ).drop_duplicates()
    assert document["texts"]["n"] + document["texts"]["excluded_seen_in_training"] == len(tests)
    assert document["texts"]["excluded_seen_in_training"] >= len(tests[tests["text"].isin(trained)]) > 0
    assert not {row["text"] for row in document["changed"]["shown"]} & trained
    f1 = document["macro_f1"]
    assert summary["delta"] == f1["delta"] and f1["low"] <= f1["delta"] <= f1["high"] and f1["resamples"] == 300
    html = (runs / "other-seed" / "comparisons" / f"{first}.html").read_text()
    for heading in ("Macro-F1 difference", "Per class", "Confusion matrices", "Texts whose predicted label changed"):
        assert heading in html
    assert "data:image/png;base64" in html  # the confusion matrices are embedded

    # from the index: every run against the served one (here: other-seed serves; first-run gets its comparison)
    (store / "deployed.json").write_text(json.dumps({"run_id": "other-seed"}))
    result = cli("reports", "--store", str(store), "--compare-served", "--resamples", "200")
    assert result.returncode == 0, result.stderr[-3000:]
    against_served = json.loads((runs / first / "comparisons" / "other-seed.json").read_text())
    assert against_served["a"]["run_id"] == "other-seed" and against_served["b"]["run_id"] == first
    assert against_served["macro_f1"]["delta"] == pytest.approx(-f1["delta"])  # the same texts, the other way round
    assert not (runs / "other-seed" / "comparisons" / "other-seed.json").exists()
    index = (store / "index.html").read_text()
    assert f"runs/{first}/comparisons/other-seed.html" in index and "vs served" in index

    # a fixed evaluation file: the same 60 tweets for both, none of them in the training data
    frame = pd.read_csv(SHARED_DATA, dtype=str, keep_default_na=False)
    used = set(pd.read_csv(labelled_csv, dtype=str, keep_default_na=False)["text"])
    frame[~frame["text"].isin(used)].groupby("label_text").head(20).to_csv(tmp_path / "eval.csv", index=False)
    result = cli("compare", "--store", str(store), first, "other-seed", "--eval-data", str(tmp_path / "eval.csv"))
    assert result.returncode == 0, result.stderr[-3000:]
    sha = hashlib.sha256((tmp_path / "eval.csv").read_bytes()).hexdigest()
    on_file = json.loads((runs / "other-seed" / "comparisons" / f"eval-{sha[:12]}" / f"{first}.json").read_text())
    assert on_file["texts"]["source"] == "eval_data" and on_file["texts"]["n"] == 60
    # its own report: the one on the test splits is still there, unchanged
    assert json.loads((runs / "other-seed" / "comparisons" / f"{first}.json").read_text()) == document
    index = (store / "index.html").read_text()
    assert f"runs/other-seed/comparisons/eval-{sha[:12]}/{first}.html" in index and "on <code>eval.csv</code>" in index


@pytest.mark.slow
def test_compare_refuses_a_run_that_did_not_succeed_in_one_line(finished_run):
    from support.project import cli

    store, first = finished_run
    result = cli("compare", "--store", str(store), first, "no-such-run")
    assert result.returncode == 2 and result.stderr.strip() == f"error: run no-such-run not found in file://{store}"
