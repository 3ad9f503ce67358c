"""One pipeline run: data in, notebooks executed, everything recorded in the store.

Order matters for the contract: the manifest says ``running`` first, files go up, the manifest
becomes ``succeeded`` and only then does ``latest.json`` move. A failure at any step writes a
``failed`` manifest (keeping the executed notebooks) and leaves ``latest.json`` alone.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .. import params as run_params
from ..errors import RunFailed, Terminated
from ..inference.cleaning import CleaningConfig
from ..records import record
from ..records.index import refresh_index
from ..records.store import LocalStore, Store, StoreError, open_store
from . import notebook_execution, notebook_sources
from .data import DatasetError, read_labelled, split_dataset

Progress = Callable[[str], None]


@dataclass(frozen=True)
class RunResult:
    run_id: str
    store_uri: str
    metrics: dict
    duration_s: float
    reproduction: dict | None = None  # reproduction.json of a `reproduce` run
    edited_notebooks: tuple[str, ...] = ()  # source notebooks that differ from the code's (manifest `notebooks`)


def _stderr_progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _interval_reading(metrics: dict) -> str:
    """``, 95% interval [low, high]: ...`` from the training report's verdict numbers, when the run recorded them."""
    interval = metrics.get("lstm_minus_baseline_interval")
    if not isinstance(interval, dict):
        return ""
    low, high = interval["low"], interval["high"]
    reading = "the LSTM is better" if low > 0 else "the baseline is better" if high < 0 else "no clear difference"
    return f", {interval['confidence']:.0%} interval [{low:+.4f}, {high:+.4f}]: {reading}"


def _one_line(exc: BaseException) -> str:
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, PapermillExecutionError):
        return f"cell {exc.exec_count}: {exc.ename}: {str(exc.evalue).strip().splitlines()[0] if exc.evalue else ''}"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


class _Run:
    """The state of one run while it executes; writes its record as it goes."""

    def __init__(self, store: Store, run_id: str, progress: Progress) -> None:
        self.store, self.run_id, self.progress = store, run_id, progress
        self.started_at = record.utc_now()
        self.clock = time.perf_counter()
        self.files: dict[str, dict[str, Any]] = {}
        self.timings: dict[str, float] = {}
        self.data_info: dict[str, Any] = {}
        self.eval_data_info: dict[str, Any] | None = None
        self.reproduces: str | None = None
        self.notebooks: dict[str, dict[str, Any]] = {}  # the source notebooks: sha256, edited, origin
        self.step = "start"
        self.report_code = False  # keep the notebooks' code in the HTML reports (hidden by default)

    def key(self, name: str) -> str:
        return record.run_key(self.run_id, name)

    def params_document(self, params: dict[str, Any]) -> dict[str, Any]:
        """``params.json``: optional fields appear only when used, so older readers see what they always saw."""
        document: dict[str, Any] = {"run_id": self.run_id, "data": self.data_info, "params": params}
        if self.eval_data_info:
            document["eval_data"] = self.eval_data_info
        if self.reproduces:
            document["reproduces"] = self.reproduces
        return document

    def put(self, name: str, data: bytes) -> None:
        self.store.write_bytes(self.key(name), data)
        self.files[name] = {"path": name, "sha256": record.sha256_bytes(data), "bytes": len(data)}

    def note_existing(self, name: str) -> None:
        """Hash a file something else (papermill) wrote into the store."""
        if self.store.exists(self.key(name)):
            data = self.store.read_bytes(self.key(name))
            self.files[name] = {"path": name, "sha256": record.sha256_bytes(data), "bytes": len(data)}

    def manifest(self, status: str, error: str | None = None) -> dict[str, Any]:
        finished = status != "running"
        return {
            "run_id": self.run_id,
            "status": status,
            "started_at": self.started_at,
            "finished_at": record.utc_now() if finished else None,
            "duration_s": round(time.perf_counter() - self.clock, 2) if finished else None,
            "error": error,
            "failed_step": self.step if status == "failed" else None,
            "data": self.data_info,
            **({"eval_data": self.eval_data_info} if self.eval_data_info else {}),
            **({"reproduces": self.reproduces} if self.reproduces else {}),
            "timings": self.timings,
            "git": record.git_commit(),
            "notebooks": self.notebooks,
            "versions": record.library_versions(),
            "files": [self.files[name] for name in sorted(self.files)],
        }

    def write_manifest(self, status: str, error: str | None = None) -> None:
        self.store.write_bytes(self.key(record.MANIFEST), record.to_json_bytes(self.manifest(status, error)))

    def claim(self, take_over_stale: bool = False) -> None:
        """Write the ``running`` manifest only if the run id is free: new, failed (a retry), or explicitly taken over
        from a ``running`` record older than STALE_RUNNING_S. One compare-and-swap on the manifest (S3 conditional
        writes, a lock file locally), so of two processes starting one run id at once exactly one proceeds; the
        other writes nothing. Two such runs used to leave one record mixing both runs' files."""
        key = self.key(record.MANIFEST)
        current = self.store.read_bytes(key) if self.store.exists(key) else None
        existing = _parse_manifest(current)
        status = existing.get("status")
        if status == record.SUCCEEDED:
            raise StoreError(f"run {self.run_id} already succeeded in {self.store.uri}; choose another --run-id")
        if status == record.RUNNING:
            age = _age_s(existing.get("started_at"))
            if not take_over_stale or age < STALE_RUNNING_S:
                raise StoreError(
                    f"run {self.run_id} is already running (started {existing.get('started_at')}, {age / 60:.0f} min "
                    f"ago) and writing its record; wait for it, or once it has been running over "
                    f"{STALE_RUNNING_S // 3600} h (a killed task or a lost machine) pass --take-over-stale"
                )
        if not self.store.replace_if(key, record.to_json_bytes(self.manifest(record.RUNNING)), current):
            raise StoreError(f"run {self.run_id} was started by another process at the same moment; it runs, not this")


# A run whose manifest has said "running" this long lost its process (SIGKILL, a lost machine): the training task's
# own timeout is 3 h (the DAG's TRAIN_TIMEOUT), so nothing alive is that old.
STALE_RUNNING_S = 6 * 3600


def _parse_manifest(data: bytes | None) -> dict[str, Any]:
    if data is None:
        return {}
    try:
        parsed = json.loads(data)
    except ValueError:
        return {"status": "unreadable"}  # a torn write: no run owns it
    return parsed if isinstance(parsed, dict) else {"status": "unreadable"}


def _age_s(timestamp: str | None) -> float:
    try:
        return (datetime.now(UTC) - datetime.fromisoformat(str(timestamp))).total_seconds()
    except ValueError:
        return float("inf")  # no start time: nothing can be waiting on it


def _upload_tree(run: _Run, local_dir: Path, prefix: str) -> None:
    for path in sorted(p for p in local_dir.rglob("*") if p.is_file()):
        run.put(f"{prefix}/{path.relative_to(local_dir).as_posix()}", path.read_bytes())


def _notebook_uri(store: Store, key: str) -> str:
    uri = store.uri_for(key)
    if isinstance(store, LocalStore):
        Path(uri).parent.mkdir(parents=True, exist_ok=True)
    return uri


def _render_reports(run: _Run, names: list[str], params: dict[str, Any], status: str) -> None:
    """HTML for every notebook that ran, including the one that failed (its error cell is the point). Each opens with
    a header: the run, its data, when it started, ``status`` (what the run knows as it renders: "succeeded", or
    "failed in <step>: <message>") and the parameters the notebook takes."""
    from .reports import run_header

    for name in names:
        nb_key = run.key(f"notebooks/{name}.ipynb")
        if not run.store.exists(nb_key):
            continue
        run.note_existing(f"notebooks/{name}.ipynb")
        try:
            header = run_header(
                name,
                run.run_id,
                data=run.data_info,
                params=params,
                started_at=run.started_at,
                status=status,
                eval_data=run.eval_data_info,
                reproduces=run.reproduces,
            )
            html = notebook_execution.render_html(run.store.uri_for(nb_key), header, show_code=run.report_code)
        except Exception as exc:  # a broken notebook must not hide the original failure
            run.progress(f"could not render {name}.html: {_one_line(exc)}")
            continue
        run.put(f"reports/{name}.html", html.encode("utf-8"))


def run_pipeline(
    data_uri: str,
    store_uri: str,
    run_id: str | None = None,
    overrides: dict[str, Any] | None = None,
    progress: Progress = _stderr_progress,
    take_over_stale: bool = False,
    eval_data_uri: str | None = None,
    notebooks: Path | None = None,
    reproduces: str | None = None,
    verbose: bool = False,
    report_code: bool = False,
) -> RunResult:
    """Run preprocess and train notebooks on ``data_uri``, recording everything under ``store_uri``.

    Raises ``ParamError``/``StoreError`` before anything is written for bad arguments, an unusable store or a run
    id that is taken (succeeded, or running: see ``_Run.claim``), ``RunFailed`` (after recording the failure) once
    the run has started.

    ``notebooks``: a folder with the notebooks to execute (default: the package's). ``reproduces``: the run this
    one re-executes; the record then names it, holds ``reproduction.json``, and ``latest.json`` stays where it is
    (a reproduction checks a model, it does not offer a new one). ``verbose``: papermill's per-cell progress and the
    cells' output on the console too (the default is one line per step; the record has everything).
    ``report_code``: the HTML reports keep the notebooks' code (hidden by default; the executed notebooks keep it).
    """
    params = run_params.resolve(overrides)
    run_id = record.check_run_id(run_id or record.new_run_id())
    store = open_store(store_uri)
    source = (
        notebook_sources.NotebookFolder(notebooks, f"run {reproduces}" if reproduces else "given folder")
        if notebooks
        else notebook_sources.locate()
    )

    run = _Run(store, run_id, progress)
    run.reproduces = reproduces
    run.report_code = report_code
    run.notebooks = notebook_sources.describe(source, notebook_execution.PIPELINE_NOTEBOOKS)
    run.claim(take_over_stale)  # also proves the store is writable before any real work
    with _stoppable() as stop:
        return _execute(run, data_uri, params, source.path, progress, eval_data_uri, stop, verbose)


class _Stop:
    """SIGTERM (what ECS and Airflow send to stop a task) during a run: the run ends ``failed`` with the reason and
    its temp folder removed, instead of the process dying with the manifest ``running`` forever.

    Outside a notebook the handler raises Terminated where the run is. While a notebook executes, the main thread is
    inside nbclient's asyncio loop, which logs and drops an exception raised in one of its callbacks or side tasks,
    and the run would then wait for the kernel's cell to end. So there the handler only notes the signal and ends
    the kernel; the cell fails within a second and ``check`` (before each cell, and after the notebook) raises.
    """

    def __init__(self) -> None:
        self.signal_number: int | None = None

    def handle(self, signal_number: int, _frame) -> None:
        self.signal_number = signal_number
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # plain Python code: safe to raise right here
            raise Terminated(signal_number) from None
        notebook_execution.end_kernels()

    def check(self) -> None:
        if self.signal_number is not None:
            raise Terminated(self.signal_number)


@contextmanager
def _stoppable() -> Iterator[_Stop]:
    """SIGTERM stops the run (see _Stop) while it executes. Main thread only (Python's rule for handlers)."""
    stop = _Stop()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = signal.signal(signal.SIGTERM, stop.handle)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGTERM, previous)


def _stage(raw: bytes, folder: Path, name: str) -> Path:
    """A local copy for the notebooks, which read files, not URIs."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(raw)
    return folder / name


def _execute(
    run: _Run,
    data_uri: str,
    params: dict,
    source_notebooks: Path,
    progress: Progress,
    eval_data_uri: str | None,
    stop: _Stop,
    verbose: bool = False,
) -> RunResult:
    store, run_id = run.store, run.run_id
    progress(f"run {run_id} -> {store.uri_for(run.key(''))}")
    edited = record.edited_notebooks({"notebooks": run.notebooks})
    if edited:
        what = "recorded notebooks differ from the installed ones" if run.reproduces else "edited notebooks"
        progress(f"  {what}: {', '.join(edited)} (compared with {run.notebooks[edited[0]]['compared_with']})")
    workdir = Path(tempfile.mkdtemp(prefix="sentiment-run-"))
    executed: list[str] = []
    try:
        run.step = "data"
        started = time.perf_counter()
        raw, dataset, facts = read_labelled(data_uri)
        staged = _stage(raw, workdir / "input", facts["name"])
        # The split the preprocess notebook will make, made here first, so a dataset it cannot split (one label,
        # a handful of rows, only copies of a few tweets) stops the run with a one-line error and exit 2.
        split_dataset(
            dataset.frame,
            val_size=params["val_size"],
            test_size=params["test_size"],
            seed=params["split_seed"],
            cleaning=CleaningConfig(stemmer=params["stemmer"], remove_stop_words=params["remove_stop_words"]),
        )
        run.data_info = {**facts, "dropped_empty_texts": dataset.dropped_empty}
        eval_staged = None
        if eval_data_uri:  # a fixed evaluation file: checked now, scored by the train notebook
            eval_raw, _, run.eval_data_info = read_labelled(eval_data_uri)
            eval_staged = _stage(eval_raw, workdir / "input" / "eval", run.eval_data_info["name"])
        run.timings["data_s"] = round(time.perf_counter() - started, 2)
        progress(
            f"  data      {facts['name']}: {len(dataset.frame):,} usable rows, sha256 {dataset.sha256[:12]}"
            + (f", {dataset.dropped_empty} empty texts dropped" if dataset.dropped_empty else "")
        )
        run.put(record.PARAMS, record.to_json_bytes(run.params_document(params)))

        notebook_params = {
            **params,
            "data_path": str(staged),
            "split_dir": str(workdir / "data"),
            "model_dir": str(workdir / "model"),
            "output_dir": str(workdir / "out"),
            "eval_path": str(eval_staged or ""),
        }
        for index, nb_name in enumerate(notebook_execution.PIPELINE_NOTEBOOKS, start=1):
            run.step = nb_name
            if verbose:  # the cells' lines follow; without them the step's one line comes when it ends
                progress(f"  executing {nb_name}.ipynb")
            executed.append(nb_name)
            try:
                seconds = notebook_execution.execute(
                    source_notebooks / f"{nb_name}.ipynb",
                    _notebook_uri(store, run.key(f"notebooks/{nb_name}.ipynb")),
                    notebook_params,
                    cwd=workdir,
                    before_cell=stop.check,
                    verbose=verbose,
                )
            finally:
                stop.check()  # the reason a kernel ended by SIGTERM failed its cell (DeadKernelError) is the signal
            run.timings[f"{nb_name}_s"] = round(seconds, 2)
            progress(
                f"  [{index}/{len(notebook_execution.PIPELINE_NOTEBOOKS)}] {nb_name + '.ipynb':<17} {seconds:6.1f} s"
            )

        run.step = "record"
        started = time.perf_counter()
        _render_reports(run, executed, params, "succeeded")
        _upload_tree(run, workdir / "data", "data")
        _upload_tree(run, workdir / "model", "model")
        metrics = json.loads((workdir / "out" / record.METRICS).read_text(encoding="utf-8"))
        run.timings["record_s"] = round(time.perf_counter() - started, 2)
        progress(f"  {'record':<23} {run.timings['record_s']:6.1f} s")
        metrics["timings"] = {**run.timings, "total_s": round(time.perf_counter() - run.clock, 2)}
        run.put(record.METRICS, record.to_json_bytes(metrics))
        reproduction = None
        if run.reproduces:
            from .reproduction import compare_records, summary

            run.step = "compare"
            reproduction = compare_records(store, run.reproduces, run_id, run.manifest(record.RUNNING))
            run.put(record.REPRODUCTION, record.to_json_bytes(reproduction))
            progress(f"  reproduction: {summary(reproduction)}")
        run.write_manifest("succeeded")
        if not run.reproduces:
            store.write_bytes(
                record.LATEST,
                record.to_json_bytes(
                    {"run_id": run_id, "updated_at": record.utc_now(), "macro_f1": metrics["model"]["macro_f1"]}
                ),
            )
        lstm, baseline = metrics["model"]["macro_f1"], metrics["baseline"]["macro_f1"]
        progress(
            f"succeeded in {time.perf_counter() - run.clock:.0f} s: macro-F1 {lstm:.4f} against the baseline's "
            f"{baseline:.4f} ({lstm - baseline:+.4f}{_interval_reading(metrics)})"
            + ("" if run.reproduces else f"; latest.json -> {run_id}")
        )
        progress(f"reports: {store.uri_for(run.key('reports/'))} ({', '.join(f'{n}.html' for n in executed)})")
        return RunResult(
            run_id,
            store.uri,
            metrics,
            round(time.perf_counter() - run.clock, 2),
            reproduction,
            tuple(record.edited_notebooks({"notebooks": run.notebooks})),
        )
    except BaseException as exc:
        if isinstance(exc, Terminated):  # the failed record must get written; SIGKILL still ends the process
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        message = str(exc) if isinstance(exc, (DatasetError, StoreError, Terminated)) else _one_line(exc)
        progress(f"FAILED in {run.step}: {message}")
        for line in notebook_execution.failure_details(exc):
            progress(f"  {line}")
        if run.step not in ("record", "compare"):
            _render_reports(run, executed, params, f"failed in {run.step}: {message}")
        run.write_manifest("failed", message)
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise RunFailed(run_id, run.step, message) from exc
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        refresh_index(store, progress)
