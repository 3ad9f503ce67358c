"""Two recorded runs' models scored on the same texts: the document behind `compare`'s report and the quality gate.

The texts are ones neither model trained on. Given a fixed evaluation file (``eval_data``), its rows; otherwise the
union of both runs' recorded test splits. Either way, rows whose cleaned text (``data.duplicate_keys``) is in
either run's train or validation split are left out and counted: when the data changed between two runs, the
older model may have trained on tweets in the newer one's test split, and scoring it there would reward memory.
"""

from __future__ import annotations

import io
import json
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import DatasetError, StoreError
from ..inference import ONNX_FILE
from ..inference.predictor import Predictor, load_predictor
from ..records import documents, record
from ..records.store import Store
from . import comparison
from .data import LABEL_COLUMN, SPLITS, TEXT_COLUMN, read_labelled, read_split
from .evaluation import UnseenScores, classification_metrics, score_unseen

if TYPE_CHECKING:
    from pandas.io.formats.style import Styler

    from .reports import ReportHeader

CHANGED_TEXTS_SHOWN = 200  # the JSON and the report list this many changed predictions, most confident first


@dataclass
class RecordedRun:
    """What a comparison needs of one succeeded run, every file checked against its manifest."""

    run_id: str
    params: dict[str, Any]
    data: dict[str, Any]
    metrics: dict[str, Any]
    splits: dict[str, pd.DataFrame]
    predictor: Predictor
    runtime: str  # "onnx", or "keras" for runs recorded before model.onnx

    def summary(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "data": self.data,
            "recorded_test_macro_f1": self.metrics.get("model", {}).get("macro_f1"),
            "runtime": self.runtime,
        }


def load_run(store: Store, run_id: str, workdir: Path) -> RecordedRun:
    """A succeeded run's parameters, metrics, splits and model (ONNX Runtime; Keras for runs without model.onnx)."""
    manifest = record.succeeded_manifest(store, run_id)
    params = record.read_params(store, run_id, manifest)
    metrics = json.loads(record.read_verified(store, run_id, record.METRICS, manifest))
    splits = load_splits(store, run_id, manifest)
    model_dir = record.download_model(store, run_id, workdir / "model")
    if (model_dir / ONNX_FILE).is_file():
        predictor, runtime = load_predictor(model_dir), "onnx"
    else:
        from .keras_predictor import load_keras_predictor

        predictor, runtime = load_keras_predictor(model_dir), "keras"
    return RecordedRun(run_id, params.get("params", {}), params.get("data", {}), metrics, splits, predictor, runtime)


def load_splits(store: Store, run_id: str, manifest: dict[str, Any] | None = None) -> dict[str, pd.DataFrame]:
    """A succeeded run's train, val and test splits, each file checked against its manifest."""
    manifest = manifest or record.succeeded_manifest(store, run_id)
    return {
        name: read_split(io.BytesIO(record.read_verified(store, run_id, record.split_path(name), manifest)))
        for name in SPLITS
    }


def check_record(store: Store, run_id: str) -> None:
    """Raise StoreError unless every file ``load_run`` reads of a succeeded run (parameters, metrics, the splits, the
    model folder) is the one its manifest recorded: the gate checks the deployed run this way before comparing, so
    a record changed after its run holds the candidate instead of failing the comparison half-way."""
    manifest = record.succeeded_manifest(store, run_id)
    record.read_params(store, run_id, manifest)
    for name in (record.METRICS, *(record.split_path(split) for split in SPLITS)):
        record.read_verified(store, run_id, name, manifest)
    with tempfile.TemporaryDirectory(prefix="sentiment-check-") as tmp:
        record.download_model(store, run_id, Path(tmp))


def texts_pool(runs: Sequence[RecordedRun], eval_frame: pd.DataFrame | None = None) -> tuple[pd.DataFrame, str]:
    """The labelled texts to score ``runs`` on, and their source: a fixed evaluation file's rows, else the union of
    the runs' recorded test splits (each text once)."""
    if eval_frame is not None:
        return eval_frame[[TEXT_COLUMN, LABEL_COLUMN]].reset_index(drop=True), "eval_data"
    pool = pd.concat([run.splits["test"][[TEXT_COLUMN, LABEL_COLUMN]] for run in reversed(runs)])
    return pool.drop_duplicates().reset_index(drop=True), "test splits"


def score_runs(
    runs: Sequence[RecordedRun], labels: Sequence[str], eval_frame: pd.DataFrame | None = None
) -> UnseenScores:
    """Each run's class probabilities (columns in ``labels`` order, outputs ``a``, ``b``... in ``runs`` order) on the
    texts of ``texts_pool`` that none of them trained or validated on (``evaluation.score_unseen``)."""
    pool, source = texts_pool(runs, eval_frame)
    trained_on = [run.splits[part] for run in runs for part in ("train", "val")]
    models = {
        side: (lambda texts, predictor=run.predictor: probabilities(predictor, texts, labels))
        for side, run in zip("abcdefgh", runs, strict=False)
    }
    return score_unseen(pool, trained_on, models, source)


def probabilities(predictor: Predictor, texts: Sequence[str], labels: Sequence[str]) -> np.ndarray:
    """Class probabilities with columns in ``labels`` order (runs may list their labels differently)."""
    if sorted(predictor.labels) != sorted(labels):
        raise DatasetError(f"the models predict different labels: {predictor.labels} vs {list(labels)}")
    order = [predictor.labels.index(label) for label in labels]
    return predictor.predict_proba(list(texts))[:, order]  # in chunks: any number of texts


def comparison_document(
    frame: pd.DataFrame,
    labels: Sequence[str],
    proba_a: np.ndarray,
    proba_b: np.ndarray,
    *,
    a: Mapping[str, Any],
    b: Mapping[str, Any],
    texts: Mapping[str, Any],
    resamples: int = comparison.DEFAULT_RESAMPLES,
    seed: int = 0,
) -> dict[str, Any]:
    """Everything the report shows, B measured against A on ``frame``'s texts (JSON-ready).

    ``a``/``b``: ``{"run_id", "params", "data", ...}`` of each side; ``texts``: where the texts came from.
    """
    labels = list(labels)
    truth = list(frame[LABEL_COLUMN])
    pred_a = [labels[i] for i in proba_a.argmax(axis=1)]
    pred_b = [labels[i] for i in proba_b.argmax(axis=1)]
    metrics_a, metrics_b = classification_metrics(truth, pred_a, labels), classification_metrics(truth, pred_b, labels)
    changed = pd.DataFrame(
        {
            TEXT_COLUMN: frame[TEXT_COLUMN].to_numpy(),
            "true": truth,
            "a": pred_a,
            "b": pred_b,
            "a_confidence": proba_a.max(axis=1).round(4),
            "b_confidence": proba_b.max(axis=1).round(4),
        }
    )
    changed = changed[changed["a"] != changed["b"]].sort_values("b_confidence", ascending=False, kind="stable")
    changed["outcome"] = np.select(
        [changed["b"] == changed["true"], changed["a"] == changed["true"]], ["fixed", "broken"], "still wrong"
    )
    return documents.comparison_document(
        a,
        b,
        texts=texts,
        labels=labels,
        metrics={"a": metrics_a, "b": metrics_b},
        macro_f1=comparison.paired_bootstrap(truth, pred_a, pred_b, labels, resamples=resamples, seed=seed),
        mcnemar=comparison.mcnemar(truth, pred_a, pred_b),
        per_class={
            label: {
                f"{measure}_{side}": metrics[label][measure]
                for measure in ("f1", "precision", "recall")
                for side, metrics in (("a", metrics_a["per_class"]), ("b", metrics_b["per_class"]))
            }
            | {"delta_f1": metrics_b["per_class"][label]["f1"] - metrics_a["per_class"][label]["f1"]}
            | {"support": metrics_a["per_class"][label]["support"]}
            for label in labels
        },
        changed={
            "n": int(len(changed)),
            "fixed": int((changed["outcome"] == "fixed").sum()),
            "broken": int((changed["outcome"] == "broken").sum()),
            "shown": changed.head(CHANGED_TEXTS_SHOWN).to_dict(orient="records"),
        },
    )


def read_eval_data(uri: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A fixed evaluation file (CSV or Parquet, ``text,label_text``) and its identity, as runs record it."""
    _, dataset, facts = read_labelled(uri)
    return dataset.frame, facts


def compare_runs(
    store: Store,
    run_a: str,
    run_b: str,
    eval_data: str | None = None,
    resamples: int = comparison.DEFAULT_RESAMPLES,
) -> dict[str, Any]:
    """Load both runs, pick the shared texts, score both models on them and build the comparison document."""
    eval_frame, eval_info = read_eval_data(eval_data) if eval_data else (None, None)
    with tempfile.TemporaryDirectory(prefix="sentiment-compare-") as tmp:
        runs = [load_run(store, run_id, Path(tmp) / side) for side, run_id in (("a", run_a), ("b", run_b))]
        labels = runs[1].predictor.labels
        scored = score_runs(runs, labels, eval_frame)
    texts = {**scored.info, **({"eval_data": eval_info} if eval_info else {})}
    a, b = ({**run.summary(), "params": run.params} for run in runs)
    return comparison_document(
        scored.texts, labels, scored.outputs["a"], scored.outputs["b"], a=a, b=b, texts=texts, resamples=resamples
    )


def resolve_reference(store: Store, reference: str) -> str:
    """A run id, ``latest`` (latest.json) or ``served`` (deployed.json, the model the local DAG serves)."""
    if reference == "served":
        served = record.read_deployed_run_id(store)
        if served is None:
            raise StoreError(
                f"{store.uri_for(record.DEPLOYED)} does not exist: nothing was deployed from this store; name a run id"
            )
        return served
    return record.resolve_run_id(store, reference)


# ---- the report: compare.ipynb renders a comparison document; these build its tables ------------------------------


def verdict(document: Mapping[str, Any]) -> str:
    """One sentence a person can act on: B minus A with its interval, and McNemar's p."""
    f1, flips = document["macro_f1"], document["mcnemar"]
    level = f"{f1['confidence']:.0%}"
    if f1["low"] > 0:
        reading = "B is better"
    elif f1["high"] < 0:
        reading = "B is worse"
    else:
        reading = "no difference that these texts can show"
    return (
        f"macro-F1 {f1['b']:.4f} (B) vs {f1['a']:.4f} (A) on {f1['n']:,} texts: B − A = {f1['delta']:+.4f}, "
        f"{level} interval [{f1['low']:+.4f}, {f1['high']:+.4f}]: {reading}. Label flips: {flips['only_b']} texts "
        f"only B gets right, {flips['only_a']} only A (McNemar p = {flips['p_value']:.3g})."
    )


def data_sentence(document: Mapping[str, Any]) -> str:
    if document["same_data"]:
        return "Both runs trained on the same data file (same sha256)."
    a, b = (document[side].get("data", {}) for side in ("a", "b"))
    return (
        f"Different data: A {a.get('name')} ({a.get('rows')} rows, sha256 {str(a.get('sha256'))[:12]}), "
        f"B {b.get('name')} ({b.get('rows')} rows, sha256 {str(b.get('sha256'))[:12]})."
    )


def texts_sentence(document: Mapping[str, Any]) -> str:
    texts = document["texts"]
    if texts["source"] == "eval_data":
        where = f"the evaluation file {texts['eval_data']['name']} (sha256 {texts['eval_data']['sha256'][:12]})"
    else:
        where = "the union of both runs' test splits"
    return (
        f"{texts['n']:,} texts from {where}; {texts['excluded_seen_in_training']:,} left out because a model "
        "trained or validated on them."
    )


SCORE_FORMAT = "{:+.4f}"  # a difference of two scores, signed
COUNT_FORMAT = "{:,}"


def interval_table(document: Mapping[str, Any]) -> Styler:
    """The macro-F1 difference with its interval (4 decimals, signed), the resample and flip counts as integers."""
    f1, flips = document["macro_f1"], document["mcnemar"]
    low = f"{f1['confidence']:.0%} interval low"
    frame = pd.DataFrame(
        {
            "B − A": [float(f1["delta"])],
            low: [float(f1["low"])],
            "high": [float(f1["high"])],
            "resamples": [int(f1["resamples"])],
            "only A right": [int(flips["only_a"])],
            "only B right": [int(flips["only_b"])],
            "McNemar p": [float(flips["p_value"])],
        }
    )
    return (
        frame.style.format(SCORE_FORMAT, subset=["B − A", low, "high"])
        .format(COUNT_FORMAT, subset=["resamples", "only A right", "only B right"])
        .format("{:.3g}", subset=["McNemar p"])
        .hide(axis="index")
    )


def headline_table(document: Mapping[str, Any]) -> Styler:
    """Both models' scores on the shared texts (4 decimals) beside each run's recorded test macro-F1."""
    rows = {}
    for side in ("a", "b"):
        metrics = document["metrics"][side]
        recorded = document[side].get("recorded_test_macro_f1")
        rows[f"{side.upper()}: {document[side]['run_id']}"] = {
            "macro-F1 (these texts)": float(metrics["macro_f1"]),
            "accuracy": float(metrics["accuracy"]),
            "macro-recall": float(metrics["macro_recall"]),
            "recorded test macro-F1": float("nan") if recorded is None else float(recorded),
            "data sha256": str(document[side].get("data", {}).get("sha256", ""))[:12],
        }
    frame = pd.DataFrame.from_dict(rows, orient="index")
    scores = ["macro-F1 (these texts)", "accuracy", "macro-recall", "recorded test macro-F1"]
    return frame.style.format("{:.4f}", subset=scores, na_rep="not recorded")


def params_table(document: Mapping[str, Any]) -> pd.DataFrame:
    """The parameters that differ, as text (a column mixing ints and floats would print 16 as 16.000000)."""
    rows = [
        {"parameter": str(row["name"]), "A": str(row["a"]), "B": str(row["b"])}
        for row in document["params_differences"]
    ]
    return pd.DataFrame(rows, columns=["parameter", "A", "B"])


def per_class_table(document: Mapping[str, Any]) -> Styler:
    """Per class: support as a count, F1 and recall of both sides and B − A's F1 to 4 decimals."""
    columns = {
        "support": "support",
        "f1_a": "F1 A",
        "f1_b": "F1 B",
        "delta_f1": "F1 B − A",
        "recall_a": "recall A",
        "recall_b": "recall B",
    }
    frame = pd.DataFrame(document["per_class"]).T[list(columns)]
    frame = frame.astype({column: float for column in columns} | {"support": int}).rename(columns=columns)
    return (
        frame.style.format("{:.4f}", subset=["F1 A", "F1 B", "recall A", "recall B"])
        .format(SCORE_FORMAT, subset=["F1 B − A"])
        .format(COUNT_FORMAT, subset=["support"])
    )


def changed_table(document: Mapping[str, Any]) -> pd.DataFrame:
    columns = [TEXT_COLUMN, "true", "a", "b", "b_confidence", "a_confidence", "outcome"]
    return pd.DataFrame(document["changed"]["shown"], columns=columns)


def changed_report_table(document: Mapping[str, Any]) -> Styler:
    """``changed_table`` as the report shows it: confidences to 3 decimals, texts aligned left, no row numbers."""
    from .reports import text_table

    names = {"a": "A", "b": "B", "b_confidence": "B's confidence", "a_confidence": "A's confidence"}
    return text_table(
        changed_table(document).rename(columns=names), {"B's confidence": "{:.3f}", "A's confidence": "{:.3f}"}
    )


def report_header(document: Mapping[str, Any], compared_at: str | None = None) -> ReportHeader:
    """The top of ``compare``'s report: both runs and their data, the texts they were scored on, and when."""
    from datetime import UTC, datetime

    from .reports import ReportHeader, data_text, utc_text

    a, b = document["a"], document["b"]
    facts = (
        ("Run A", str(a["run_id"])),
        ("A's data", data_text(a.get("data"))),
        ("Run B", str(b["run_id"])),
        ("B's data", data_text(b.get("data"))),
        ("Texts", texts_sentence(document)),
        ("Compared", utc_text(compared_at or datetime.now(UTC).isoformat(timespec="seconds"))),
    )
    return ReportHeader(f"run {b['run_id']} against run {a['run_id']}", facts, title="Comparison report")


def write_report(
    store: Store,
    run_a: str,
    run_b: str,
    eval_data: str | None = None,
    resamples: int = comparison.DEFAULT_RESAMPLES,
    report_code: bool = False,
) -> dict[str, Any]:
    """Compare B against A and store the document and its report in B's record (``documents.write_comparison``:
    ``comparisons/[eval-<sha12>/]<A>.json`` and ``.html``); returns the document with ``report``/``json`` (the stored
    URIs). The numbers are computed here, so a bad run id or evaluation file fails in one line; the notebook
    (executed by papermill, rendered like the run reports) only presents them. ``report_code``: keep the notebook's
    code in the HTML (hidden by default)."""
    from . import notebook_execution, notebook_sources

    run_a, run_b = resolve_reference(store, run_a), resolve_reference(store, run_b)
    document = compare_runs(store, run_a, run_b, eval_data, resamples)
    with tempfile.TemporaryDirectory(prefix="sentiment-compare-report-") as tmp:
        path = Path(tmp) / "comparison.json"  # the notebook's input, not a record file
        path.write_bytes(record.to_json_bytes(document))
        name = f"{notebook_execution.COMPARISON_NOTEBOOK}.ipynb"
        notebook = Path(tmp) / name
        notebook_execution.execute(
            notebook_sources.notebooks_dir() / name,
            str(notebook),
            {"comparison_path": str(path)},
            cwd=Path(tmp),
        )
        html = notebook_execution.render_html(str(notebook), report_header(document), show_code=report_code)
    return {**document, **documents.write_comparison(store, document, html)}


def compare_with_served(store: Store, resamples: int = comparison.DEFAULT_RESAMPLES) -> list[str]:
    """Compare every succeeded run not yet compared with the served one (``deployed.json``), so the index shows each
    run against what is served; returns one line per run compared or skipped."""
    served = resolve_reference(store, "served")
    lines = []
    for run_id in record.run_ids(store):
        if run_id == served or store.exists(documents.comparison_keys(run_id, served)["json"]):
            continue
        try:
            record.succeeded_manifest(store, run_id)
            document = write_report(store, served, run_id, resamples=resamples)
        except (DatasetError, StoreError) as exc:
            lines.append(f"{run_id}: not compared ({exc})")
            continue
        lines.append(f"{run_id}: {verdict(document)}")
    return lines
