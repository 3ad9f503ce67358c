"""The quality gate: a candidate is promoted only on evidence that it is good enough and not worse than what is served.

It promotes when the candidate reaches the threshold and the lower bound of the paired bootstrap interval of
(candidate − deployed) macro-F1, both models scored on the same texts in this process, is above −margin. With
nothing deployed (``--deployed none``) the threshold alone decides; a deployed run that is not in the store is an
error, and one whose record was changed after its run holds the candidate. Comparing the candidate's test score
with the deployed model's *recorded* one used to promote or block on noise (one standard error of macro-F1 on
2,748 tweets is about 0.008) and on different test splits.

``sentiment-pipeline gate`` runs ``evaluate`` in the training image (it loads and scores both models, so it lives
with training) and writes the decision to ``runs/<run>/gate.json``; the DAG's ``quality_gate`` task, in the Airflow
image, only reads that file back. The margin's default is ``params.GATE_MARGIN``, where the DAG's form finds it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..params import GATE_MARGIN as DEFAULT_MARGIN

if TYPE_CHECKING:
    from ..records.store import Store

log = logging.getLogger(__name__)


def decide(score: float, threshold: float, interval: Mapping[str, Any] | None, margin: float) -> tuple[bool, str]:
    """``(promote, reason)`` from the candidate's score, and the interval of (candidate − deployed) if any."""
    if score < threshold:
        return False, f"macro-F1 {score:.4f} is below the threshold {threshold:.4f}"
    if interval is None:
        return True, f"macro-F1 {score:.4f} reaches the threshold {threshold:.4f}; nothing deployed to compare with"
    bounds = (
        f"candidate − deployed = {interval['delta']:+.4f}, "
        f"95% interval [{interval['low']:+.4f}, {interval['high']:+.4f}]"
    )
    if interval["low"] > -margin:
        return True, f"macro-F1 {score:.4f} reaches {threshold:.4f} and {bounds} stays above −{margin:g}"
    return False, f"{bounds} reaches below −{margin:g}: the candidate may be worse than the deployed model"


def evaluate(
    store: Store,
    run_id: str,
    deployed: str | None,
    threshold: float,
    margin: float = DEFAULT_MARGIN,
    eval_data: str | None = None,
) -> dict[str, Any]:
    """Score the candidate (and the deployed model, on the same texts), decide, and write ``gate.json``.

    The threshold applies to the candidate's macro-F1 on the evaluation file when one is given (the same texts
    the deployed model is scored on), else to its recorded test-split macro-F1. A ``deployed`` run that is not in
    the store raises RunIdError (``None``, not a guess, means nothing is deployed); one whose record fails its
    manifest's check (changed, missing or added files) holds the candidate, with that reason and
    ``deployed_unusable``.
    """
    from ..errors import RunIdError, StoreError
    from ..records import documents, record
    from . import run_comparison

    if not 0 <= margin < 1:
        raise ValueError(f"the margin must be in [0, 1), got {margin}")
    metrics = record.read_metrics(store, run_id)
    unusable = None
    if deployed:
        if not store.exists(record.run_key(deployed, record.MANIFEST)):  # a typo must not skip the comparison
            raise RunIdError(
                f"the deployed run {deployed} is not in {store.uri}: name a run of this store, or "
                "--deployed none if nothing is deployed (then the threshold alone decides)"
            )
        try:  # the record the deployed model came from, as the comparison will read it
            run_comparison.check_record(store, deployed)
        except StoreError as exc:  # changed after the run: nothing to compare with, so nothing is promoted
            unusable = {"run_id": deployed, "error": str(exc)}
            log.warning("the deployed run %s cannot be compared with (%s); holding run %s", deployed, exc, run_id)
    evidence: dict[str, Any] = {}
    score = metrics["model"]["macro_f1"]
    if unusable:
        promote = False
        reason = f"the deployed run {deployed} cannot be compared with, so the candidate is held: {unusable['error']}"
    else:
        if deployed:
            document = run_comparison.write_report(store, deployed, run_id, eval_data=eval_data)
            f1 = document["macro_f1"]
            evidence = {
                "deployed": {"run_id": deployed, "macro_f1": f1["a"]},
                "interval": {key: f1[key] for key in ("n", "delta", "low", "high", "confidence", "resamples")},
                "mcnemar": document["mcnemar"],
                "texts": document["texts"],
                "report": document["report"],
            }
            score = f1["b"] if eval_data else score
        elif eval_data:
            score, evidence["texts"] = _score_alone(store, run_id, eval_data)
        promote, reason = decide(score, threshold, evidence.get("interval"), margin)
    decision = documents.gate_document(
        run_id,
        threshold=threshold,
        margin=margin,
        promote=promote,
        reason=reason,
        candidate={
            "run_id": run_id,
            "macro_f1": score,
            "scored_on": "eval_data" if eval_data and not unusable else "test split",
        },
        deployed_unusable=unusable,
        **evidence,
    )
    documents.write_gate(store, decision)
    return decision


def _score_alone(store: Store, run_id: str, eval_data: str) -> tuple[float, dict[str, Any]]:
    """The candidate's macro-F1 on the evaluation file (rows it trained on left out), when nothing is deployed."""
    import tempfile
    from pathlib import Path

    from . import run_comparison
    from .data import LABEL_COLUMN
    from .evaluation import classification_metrics

    frame, info = run_comparison.read_eval_data(eval_data)
    with tempfile.TemporaryDirectory(prefix="sentiment-gate-") as tmp:
        run = run_comparison.load_run(store, run_id, Path(tmp))
        labels = run.predictor.labels
        scored = run_comparison.score_runs([run], labels, frame)
    predicted = [labels[i] for i in scored.outputs["a"].argmax(axis=1)]
    metrics = classification_metrics(list(scored.texts[LABEL_COLUMN]), predicted, labels)
    return metrics["macro_f1"], {**scored.info, "eval_data": info}
