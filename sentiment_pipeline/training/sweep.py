"""Parameter sweeps: every point of a grid is a run of its own, then the points are ranked on the same texts.

``sentiment-pipeline sweep --grid lstm_units=16,32 --grid dropout=0.2,0.4 -p epochs=1`` checks every point against
the parameter table before anything runs, runs each point as a normal ``sentiment-pipeline run`` (its own record,
``params.json`` naming the sweep; on one machine ``--parallel`` processes at once), then scores every point that
succeeded on the same texts (their shared test split, or ``--eval-data``) and ranks them: each point's macro-F1,
the paired bootstrap interval of its difference to the best point and McNemar's test against it. The ranking is
``sweeps/<sweep_id>/sweep.json`` with a report rendered from ``notebooks/sweep.ipynb``. A point that fails does not
stop the others; the sweep records it and exits non-zero.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import Terminated
from ..records import documents, record
from ..records.index import refresh_index
from ..records.store import Store, StoreError
from ..sweep_plan import SweepPlan, default_parallel, point_command, value_text
from . import comparison
from .data import LABEL_COLUMN, TEXT_COLUMN
from .evaluation import classification_metrics, score_unseen

# Each point's process gets this many threads for TensorFlow and BLAS: the cores shared out among the points at once.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS")
LAST_LINES = 20  # of a failed point's console, kept in sweep.json


def _thread_environment(parallel: int, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    threads = str(max(1, (os.cpu_count() or 1) // parallel))
    return {**environ, **{name: environ.get(name) or threads for name in THREAD_VARIABLES}}


Progress = Callable[[str], None]


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def run_points(
    plan: SweepPlan,
    data_uri: str,
    store: Store,
    eval_data_uri: str | None = None,
    parallel: int | None = None,
    progress: Progress = _stderr,
) -> list[dict[str, Any]]:
    """Run every point as its own ``sentiment-pipeline run`` process, ``parallel`` at a time; a point that already
    succeeded (the same sweep run again after a failure) is kept, not run again. One entry per point, in grid order:
    ``run_id``, ``params`` (the swept values), ``status``, ``exit_code``, ``duration_s``, ``error``."""
    parallel = parallel or default_parallel(len(plan.points))
    env = _thread_environment(parallel)
    lock = threading.Lock()
    stopping = threading.Event()
    live: set[subprocess.Popen] = set()  # the points running now: a SIGTERM to the sweep is passed on to them

    def one(index: int) -> dict[str, Any]:
        run_id, point = plan.run_id(index), plan.points[index]
        label = f"{run_id} ({', '.join(f'{k}={value_text(v)}' for k, v in point.items())})"
        entry: dict[str, Any] = {"index": index + 1, "run_id": run_id, "params": point}
        if stopping.is_set():
            stopped = {"status": "not run", "exit_code": None, "duration_s": None, "error": "the sweep was stopped"}
            return {**entry, **stopped}
        if _succeeded(store, run_id):
            with lock:
                progress(f"  {label}: succeeded before, kept")
            return {**entry, "status": record.SUCCEEDED, "exit_code": 0, "duration_s": None, "error": None}
        command = point_command(plan, index, data_uri, store.uri, eval_data_uri)
        started = time.perf_counter()
        tail: deque[str] = deque(maxlen=LAST_LINES)
        with subprocess.Popen(
            [sys.executable, "-m", "sentiment_pipeline.cli", *command[1:]],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        ) as process:
            with lock:
                live.add(process)
            assert process.stdout is not None
            for line in process.stdout:
                tail.append(line.rstrip("\n"))
        with lock:
            live.discard(process)
        seconds = round(time.perf_counter() - started, 1)
        ok = process.returncode == 0
        error = None if ok else _error_line(tail)
        with lock:
            progress(
                f"  {label}: " + (f"succeeded in {seconds:.0f} s" if ok else f"FAILED in {seconds:.0f} s: {error}")
            )
        return {
            **entry,
            "status": record.SUCCEEDED if ok else record.FAILED,
            "exit_code": process.returncode,
            "duration_s": seconds,
            "error": error,
            **({} if ok else {"last_lines": list(tail)}),
        }

    def stop(signal_number: int, frame) -> None:
        # ECS and Airflow stop a task with SIGTERM: each running point records itself failed (the runner's own
        # handling), no other point starts, and the sweep ends once they have
        stopping.set()
        with lock:
            for process in live:
                process.send_signal(signal_number)

    progress(f"sweep {plan.sweep_id}: {len(plan.points)} points, {parallel} at a time")
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, stop) if in_main else None
    try:
        with ThreadPoolExecutor(max_workers=parallel) as pool:
            points = list(pool.map(one, range(len(plan.points))))
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)
    if stopping.is_set():
        raise Terminated(signal.SIGTERM)
    return points


def _manifest(store: Store, run_id: str) -> dict[str, Any]:
    """A point's manifest as it stands ({} when the point never started)."""
    key = record.run_key(run_id, record.MANIFEST)
    return json.loads(store.read_bytes(key)) if store.exists(key) else {}


def _succeeded(store: Store, run_id: str) -> bool:
    return _manifest(store, run_id).get("status") == record.SUCCEEDED


def recorded_points(plan: SweepPlan, store: Store) -> list[dict[str, Any]]:
    """Each point as its record stands: succeeded, failed (with the manifest's error), or missing (never ran)."""
    points = []
    for index, point in enumerate(plan.points):
        run_id = plan.run_id(index)
        entry: dict[str, Any] = {"index": index + 1, "run_id": run_id, "params": point, "exit_code": None}
        manifest = _manifest(store, run_id)
        status = manifest.get("status") or "missing"
        error = None if status == record.SUCCEEDED else (manifest.get("error") or f"run {run_id} has no record")
        entry.update(status=status, duration_s=manifest.get("duration_s"), error=error)
        points.append(entry)
    return points


def check_earlier_points(plan: SweepPlan, store: Store) -> list[str]:
    """The points of this sweep id that already succeeded (kept when the sweep runs again); StoreError, before
    anything runs, when such a run was made with other parameters or for another sweep: a sweep id names one grid."""
    kept = []
    for index, point in enumerate(plan.points):
        run_id = plan.run_id(index)
        if not _succeeded(store, run_id):
            continue
        recorded = record.read_params(store, run_id, record.succeeded_manifest(store, run_id))
        differing = {k: v for k, v in plan.overrides(point).items() if recorded.get("params", {}).get(k) != v}
        if differing or recorded.get("sweep") != plan.sweep_id:
            what = ", ".join(f"{k}={value_text(v)}" for k, v in differing.items()) or f"sweep {plan.sweep_id}"
            raise StoreError(
                f"run {run_id} exists in {store.uri} but was not made with {what}: sweep {plan.sweep_id} was run "
                "with another grid; choose another --sweep-id"
            )
        kept.append(run_id)
    return kept


def _error_line(lines: Sequence[str]) -> str:
    """The point's own one-line reason (the CLI's ``error:`` line), else its last line."""
    errors = [line for line in lines if line.startswith("error:")]
    return (errors[-1] if errors else (lines[-1] if lines else "no output")).strip()


@dataclass
class Ranking:
    """The points (with their scores and ranks), the texts they were scored on, the best point's run id, the labels
    and the data the points trained on (as their records name it)."""

    points: list[dict[str, Any]]
    texts: dict[str, Any] | None = None
    best: str | None = None
    labels: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)


def rank_points(
    store: Store,
    points: Sequence[Mapping[str, Any]],
    eval_frame: pd.DataFrame | None = None,
    resamples: int = comparison.DEFAULT_RESAMPLES,
) -> Ranking:
    """Score every succeeded point on the same texts (``eval_frame``'s rows, else their shared test split; either
    way only texts no point trained or validated on) and rank them: each point gets ``macro_f1``, ``accuracy``,
    ``rank`` and, except for the best, ``against_best`` (the paired bootstrap of this point's macro-F1 minus the
    best's) and ``mcnemar`` (against the best). One model is loaded at a time."""
    from .run_comparison import load_run, load_splits, probabilities

    ranked = [dict(point) for point in points]
    done = [point for point in ranked if point["status"] == record.SUCCEEDED]
    if not done:
        return Ranking(ranked)
    splits = [load_splits(store, point["run_id"]) for point in done]
    if eval_frame is not None:
        pool, source = eval_frame[[TEXT_COLUMN, LABEL_COLUMN]].reset_index(drop=True), "eval_data"
    else:
        pool = pd.concat([split["test"][[TEXT_COLUMN, LABEL_COLUMN]] for split in splits]).drop_duplicates()
        pool, source = pool.reset_index(drop=True), "test splits"
    trained_on = [split[part] for split in splits for part in ("train", "val")]
    scored = score_unseen(pool, trained_on, {}, source)
    texts, truth = list(scored.texts[TEXT_COLUMN]), list(scored.texts[LABEL_COLUMN])
    predictions: dict[str, list[str]] = {}
    labels: list[str] = []
    data: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="sentiment-sweep-") as tmp:
        for point in done:
            run = load_run(store, point["run_id"], Path(tmp) / point["run_id"])
            labels, data = labels or list(run.predictor.labels), data or run.data
            probs = probabilities(run.predictor, texts, labels)
            predictions[point["run_id"]] = [labels[i] for i in np.argmax(probs, axis=1)]
            point["recorded_test_macro_f1"] = run.metrics.get("model", {}).get("macro_f1")
            del run
    for point in done:
        metrics = classification_metrics(truth, predictions[point["run_id"]], labels)
        point.update(macro_f1=metrics["macro_f1"], accuracy=metrics["accuracy"])
    order = sorted(done, key=lambda point: (-point["macro_f1"], point["index"]))
    best = order[0]["run_id"]
    for rank, point in enumerate(order, start=1):
        point["rank"] = rank
        if point["run_id"] != best:
            best_pred, pred = predictions[best], predictions[point["run_id"]]
            point["against_best"] = comparison.paired_bootstrap(truth, best_pred, pred, labels, resamples)
            point["mcnemar"] = comparison.mcnemar(truth, best_pred, pred)
    return Ranking(ranked, scored.info, best, labels, data)


def _shown(pattern: str) -> Callable[[Any], str]:
    return lambda value: "" if value is None or pd.isna(value) else pattern.format(value)


# points_table's columns as the report shows them; empty for a failed point
TABLE_FORMATS = {"rank": _shown("{:.0f}"), "macro-F1": _shown("{:.4f}"), "McNemar p": _shown("{:.3f}"),
                 "seconds": _shown("{:,.0f}")}  # fmt: skip


def points_table(document: Mapping[str, Any]) -> pd.DataFrame:
    """The report's table: the points by rank (failed ones last), their swept values and scores."""
    rows = []
    for point in sorted(document["points"], key=lambda p: p.get("rank") or len(document["points"]) + p["index"]):
        against = point.get("against_best")
        rows.append(
            {
                "rank": point.get("rank"),
                "run": point["run_id"],
                **{name: value_text(value) for name, value in point["params"].items()},
                "macro-F1": point.get("macro_f1"),
                "minus the best (95% interval)": (
                    f"{against['delta']:+.4f} [{against['low']:+.4f}, {against['high']:+.4f}]" if against else ""
                ),
                "McNemar p": point["mcnemar"]["p_value"] if point.get("mcnemar") else None,
                "status": point["status"],
                "seconds": point.get("duration_s"),
                "reason": _short(point.get("error") or ""),
            }
        )
    return pd.DataFrame(rows)


def _short(text: str, limit: int = 90) -> str:
    text = text.removeprefix("error: ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def verdict(document: Mapping[str, Any]) -> str:
    """One sentence on the ranking: the best point, and which points are clearly worse (interval below zero)."""
    failed = document["failed_points"]
    note = f" {len(failed)} point(s) failed: {', '.join(failed)}." if failed else ""
    if not document["best"]:
        return "No point succeeded." + note
    best = next(p for p in document["points"] if p["run_id"] == document["best"])
    setting = ", ".join(f"{k}={value_text(v)}" for k, v in best["params"].items())
    others = [p for p in document["points"] if p.get("against_best")]
    worse = [p for p in others if p["against_best"]["high"] < 0]
    tied = len(others) - len(worse)
    n = document["texts"]["n"]
    headline = f"Best: {best['run_id']} ({setting}), macro-F1 {best['macro_f1']:.4f} on {n:,} texts"
    if not others:
        return f"{headline}, the only point that succeeded." + note
    return (
        f"{headline}. {len(worse)} of the {len(others)} other points are clearly worse (their interval lies below "
        f"zero); {tied} cannot be told apart from it on these texts." + note
    )


def metric_by_parameter(document: Mapping[str, Any]):
    """Macro-F1 against each swept parameter's values: every point a dot, the mean over the other parameters a
    line; one panel per parameter."""
    import matplotlib.pyplot as plt

    points = [p for p in document["points"] if p.get("macro_f1") is not None]
    names = list(document["grid"])
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.2), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        values = document["grid"][name]
        positions = {value_text(v): i for i, v in enumerate(values)}
        xs = [positions[value_text(p["params"][name])] for p in points]
        ax.scatter(xs, [p["macro_f1"] for p in points], color="#4c72b0", zorder=3)
        means = [
            np.mean([p["macro_f1"] for p in points if value_text(p["params"][name]) == value_text(v)] or [np.nan])
            for v in values
        ]
        ax.plot(range(len(values)), means, color="#dd8452", marker="_", markersize=18, label="mean")
        ax.set_xticks(range(len(values)), [value_text(v) for v in values])
        ax.set_xlabel(name)
        ax.set_ylabel("macro-F1")
        ax.grid(alpha=0.3)
    axes[0][0].legend(loc="best", fontsize=8)
    fig.tight_layout()
    return fig


def report_header(document: Mapping[str, Any]):
    """The top of the sweep's report: the grid, the data, the texts, and when."""
    from .reports import ReportHeader, data_text, utc_text

    facts = (
        ("Sweep", str(document["sweep_id"])),
        ("Grid", "; ".join(f"{k} = {', '.join(value_text(v) for v in vs)}" for k, vs in document["grid"].items())),
        ("Fixed", ", ".join(f"{k}={value_text(v)}" for k, v in document["fixed"].items()) or "the defaults"),
        ("Data", data_text(document.get("data"))),
        ("Texts", _texts_sentence(document)),
        ("Finished", utc_text(document.get("finished_at"))),
    )
    status = (
        document["status"]
        if document["status"] == record.SUCCEEDED
        else "failed points: " + ", ".join(document["failed_points"])
    )
    return ReportHeader(f"sweep {document['sweep_id']}", facts, status=status, title="Sweep report")


def _texts_sentence(document: Mapping[str, Any]) -> str:
    texts = document.get("texts")
    if not texts:
        return "none (no point succeeded)"
    where = "the evaluation file" if texts["source"] == "eval_data" else "the points' shared test split"
    return f"{texts['n']:,} labelled texts of {where} that no point trained or validated on"


def sweep(
    plan: SweepPlan,
    data_uri: str,
    store: Store,
    eval_data_uri: str | None = None,
    parallel: int | None = None,
    resamples: int = comparison.DEFAULT_RESAMPLES,
    progress: Progress = _stderr,
    rank_only: bool = False,
) -> dict[str, Any]:
    """Run the points, rank them, and store ``sweep.json`` with its report; returns the document with the stored
    URIs (``json``, ``report``). ``rank_only``: run nothing, rank the points as their records stand (the Airflow
    DAG ran them as tasks of their own)."""
    from . import notebook_execution, notebook_sources
    from .run_comparison import read_eval_data

    started_at, clock = record.utc_now(), time.perf_counter()
    parallel = parallel or default_parallel(len(plan.points))
    eval_frame = read_eval_data(eval_data_uri)[0] if eval_data_uri else None  # a bad file fails before any run
    check_earlier_points(plan, store)
    if rank_only:
        points = recorded_points(plan, store)
    else:
        points = run_points(plan, data_uri, store, eval_data_uri, parallel, progress)
    progress(f"sweep {plan.sweep_id}: ranking the points that succeeded on the same texts")
    ranking = rank_points(store, points, eval_frame, resamples)
    texts = {**ranking.texts, "uri": eval_data_uri} if ranking.texts and eval_data_uri else ranking.texts
    document = documents.sweep_document(
        plan.sweep_id,
        started_at=started_at,
        duration_s=round(time.perf_counter() - clock, 1),
        grid=plan.grid,
        fixed=plan.fixed,
        data=ranking.data or {"uri": data_uri},
        parallel=parallel,
        points=ranking.points,
        texts=texts,
        best=ranking.best,
        labels=ranking.labels,
        resamples=resamples,
    )
    with tempfile.TemporaryDirectory(prefix="sentiment-sweep-report-") as tmp:
        path = Path(tmp) / "input.json"  # the notebook's input: sweep.json's content, before it is stored
        path.write_bytes(record.to_json_bytes(document))
        name = f"{notebook_execution.SWEEP_NOTEBOOK}.ipynb"
        notebook = Path(tmp) / name
        parameters = {"sweep_path": str(path)}
        notebook_execution.execute(notebook_sources.notebooks_dir() / name, str(notebook), parameters, cwd=Path(tmp))
        html = notebook_execution.render_html(str(notebook), report_header(document))
        stored = documents.write_sweep(store, document, notebook.read_bytes(), html)
    refresh_index(store, progress)
    return {**document, "json": stored[record.SWEEP], "report": stored[record.SWEEP_REPORT]}
