"""One pipeline run: data in, notebooks executed, everything recorded in the store.

Order matters for the contract: the manifest says ``running`` first, files go up, the manifest
becomes ``succeeded`` and only then does ``latest.json`` move. A failure at any step writes a
``failed`` manifest first (keeping the executed notebooks), then what reports it can, and leaves ``latest.json``
alone. While the run lives, a heartbeat renews its claim on the run id (the manifest's ``lease``), so a run that
died (SIGKILL, a lost machine, a store that failed it) leaves a claim the next run of that id takes over.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
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
from ..errors import ParamError, RunFailed, Terminated
from ..inference.cleaning import CleaningConfig
from ..records import documents, record
from ..records.index import refresh_index
from ..records.store import LocalStore, Store, StoreError
from . import notebook_execution, notebook_sources
from .data import DatasetError, read_labelled, split_dataset
from .memory import StepPeak, release_memory
from .notebook_execution import one_line as _one_line

Progress = Callable[[str], None]

# A run's claim on its id lapses this long after its last heartbeat (HEARTBEAT_S apart, at most a quarter of the
# lease): then it belongs to a run that died and the next run of that id takes it over. Above a heartbeat's worst
# case on a hung store (one conditional PUT, store.S3_ATTEMPTS x store.S3_READ_TIMEOUT_S + back-off: about 50 s)
# plus the interval; under the DAG's retry_delay, so an Airflow retry finds the claim lapsed.
LEASE_S = 120
LEASE_RANGE_S = (10, 3600)
LEASE_ENV = "SENTIMENT_PIPELINE_LEASE_S"
HEARTBEAT_S = 30
# A run whose manifest has said "running" this long lost its process (SIGKILL, a lost machine): the training task's
# own timeout is 3 h (the DAG's TRAIN_TIMEOUT), so nothing alive is that old. Only for records without a lease.
STALE_RUNNING_S = 6 * 3600
# A failing run's own store writes (the failed manifest first, retried; then the reports and the index) stop this
# long after the failure, so a store that fails or hangs cannot keep a failed run alive.
FAILURE_RECORD_S = 45
# After SIGTERM: the failed record gets SIGTERM_RECORD_S, and the process ends SIGTERM_GRACE_S after the signal
# whatever a store call in flight does (ECS sends SIGKILL 30 s after SIGTERM by default).
SIGTERM_RECORD_S = 18
SIGTERM_GRACE_S = 25


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


class _Run:
    """The state of one run while it executes; writes its record as it goes."""

    def __init__(self, store: Store, run_id: str, progress: Progress, lease_s: float = LEASE_S) -> None:
        self.store, self.run_id, self.progress = store, run_id, progress
        self.lease_s = lease_s
        self.lease_id = secrets.token_hex(8)  # tells this run's manifest from a process that took the id over
        self._manifest_lock = threading.Lock()  # the heartbeat and the final write, one at a time
        self._written: tuple[dict[str, Any], bytes] | None = None  # the manifest this run wrote last, and its bytes
        self._beating = threading.Event()  # set while the heartbeat may renew the claim
        self.lost_claim: str | None = None  # why the claim is not this run's any more
        self.started_at = record.utc_now()
        self.clock = time.perf_counter()
        self.files: dict[str, dict[str, Any]] = {}
        self.timings: dict[str, float] = {}
        self.data_info: dict[str, Any] = {}
        self.eval_data_info: dict[str, Any] | None = None
        self.reproduces: str | None = None
        self.sweep: str | None = None  # the sweep this run is a point of
        self.notebooks: dict[str, dict[str, Any]] = {}  # the source notebooks: sha256, edited, origin
        self.step = "start"
        self.report_code = False  # keep the notebooks' code in the HTML reports (hidden by default)

    def key(self, name: str) -> str:
        return record.run_key(self.run_id, name)

    def params_document(self, params: dict[str, Any]) -> dict[str, Any]:
        return documents.params_document(
            self.run_id, self.data_info, params, self.eval_data_info, self.reproduces, self.sweep
        )

    def put(self, name: str, data: bytes) -> None:
        self.store.write_bytes(self.key(name), data)
        self.files[name] = documents.file_entry(name, data)

    def note_existing(self, name: str) -> bytes | None:
        """Hash a file something else (papermill) wrote into the store; its bytes, None if there is none."""
        if not self.store.exists(self.key(name)):
            return None
        data = self.store.read_bytes(self.key(name))
        self.files[name] = documents.file_entry(name, data)
        return data

    def manifest(self, status: str, error: str | None = None) -> dict[str, Any]:
        return documents.manifest_document(
            self.run_id,
            status,
            started_at=self.started_at,
            duration_s=round(time.perf_counter() - self.clock, 2),
            error=error,
            failed_step=self.step,
            data=self.data_info,
            timings=self.timings,
            notebooks=self.notebooks,
            files=list(self.files.values()),
            lease=documents.lease_document(self.lease_id, self.lease_s),
            eval_data=self.eval_data_info,
            reproduces=self.reproduces,
        )

    def write_manifest(self, status: str, error: str | None = None, wait_s: float | None = None) -> None:
        """The final manifest (``succeeded`` or ``failed``; a failed run may rewrite its own with more files). Stops
        the heartbeat first, and replaces only the manifest this run wrote (compare-and-swap): a run whose id was
        taken over while it was out of touch gets a StoreError, not the other run's record. ``wait_s``: how long
        to wait for a heartbeat's store call in flight (None: as long as it takes, bounded by the store's timeouts).
        """
        self._beating.clear()
        if not self._manifest_lock.acquire(timeout=-1 if wait_s is None else max(wait_s, 0)):
            raise StoreError(f"the store did not answer the run's heartbeat within {wait_s:.0f} s")
        try:
            self._swap(self.manifest(status, error))
        finally:
            self._manifest_lock.release()

    def _swap(self, document: dict[str, Any]) -> None:
        """Replace the manifest this run wrote last with ``document``. If the store holds other bytes, they are still
        this run's when they carry its lease id (a write whose answer was lost landed after all): replaced when their
        status is the one this run wrote last or the one it writes now, never a finished manifest by a heartbeat."""
        key, data = self.key(record.MANIFEST), record.to_json_bytes(document)
        expected = self._written[1] if self._written else None
        for _ in range(3):
            if self.store.replace_if(key, data, expected):
                self._written = (document, data)
                return
            expected = self.store.read_bytes(key) if self.store.exists(key) else None
            current = _parse_manifest(expected)
            lease = current.get("lease")
            if (lease.get("id") if isinstance(lease, dict) else None) != self.lease_id:
                self.lost_claim = (
                    f"run {self.run_id} was taken over by another process while this one was out of touch with the "
                    f"store (no heartbeat for over {self.lease_s:.0f} s); its record is that process's now"
                )
                raise StoreError(self.lost_claim)
            mine = self._written[0] if self._written else {}
            if current.get("status") not in (mine.get("status"), document.get("status")):
                raise StoreError(f"{self.store.uri_for(key)} says {current.get('status')!r} already; left as it is")
        raise StoreError(f"{self.store.uri_for(key)} kept changing while this run replaced it")

    def heartbeat(self) -> None:
        """Renew the claim: the running manifest again, with a new ``lease.heartbeat_at``. Never after the final
        manifest (the lock and ``_beating``), and never over a manifest that is not this run's (``_swap``)."""
        with self._manifest_lock:
            if not self._beating.is_set() or self._written is None:
                return
            document = self._written[0]
            self._swap(documents.renewed(document))

    def check_claim(self) -> None:
        """Before each cell: a run whose id was taken over stops writing into the other run's record."""
        if self.lost_claim:
            raise StoreError(self.lost_claim)

    def claim(self, take_over_stale: bool = False) -> None:
        """Write the ``running`` manifest only if the run id is free: new, failed (a retry), or held by a run that
        died (its lease lapsed: no heartbeat for ``lease.lease_s``; taken over with one warning line). One
        compare-and-swap on the manifest (S3 conditional writes, a lock file locally), so of two processes starting
        one run id at once exactly one proceeds; the other writes nothing. Two such runs used to leave one record
        mixing both runs' files. A ``running`` record without a lease (written before runs held one) is taken over
        only with ``take_over_stale`` once older than STALE_RUNNING_S."""
        key = self.key(record.MANIFEST)
        current = self.store.read_bytes(key) if self.store.exists(key) else None
        existing = _parse_manifest(current)
        status = existing.get("status")
        if status == record.SUCCEEDED:
            raise StoreError(f"run {self.run_id} already succeeded in {self.store.uri}; choose another --run-id")
        if status == record.RUNNING:
            lease = existing.get("lease")
            if isinstance(lease, dict) and "heartbeat_at" in lease:
                silent, lease_s = _age_s(lease.get("heartbeat_at")), _lease_of(lease)
                holder = f"{lease.get('host', '?')} pid {lease.get('pid', '?')}"
                if silent <= lease_s:
                    raise StoreError(
                        f"run {self.run_id} is already running (started {existing.get('started_at')}, on {holder}, "
                        f"last heartbeat {silent:.0f} s ago) and writing its record; its claim lapses {lease_s:.0f} s "
                        "after its last heartbeat, so a retry after that takes over a run that died"
                    )
                self.progress(
                    f"warning: run {self.run_id} was left 'running' by a process that stopped ({holder}, last "
                    f"heartbeat {min(silent, 10**9):.0f} s ago, lease {lease_s:.0f} s): taking the run id over"
                )
            else:  # recorded before runs held a lease: only its start time says anything
                age = _age_s(existing.get("started_at"))
                if not take_over_stale or age < STALE_RUNNING_S:
                    raise StoreError(
                        f"run {self.run_id} is already running (started {existing.get('started_at')}, "
                        f"{age / 60:.0f} min ago) and writing its record (a record without a lease, from an older "
                        f"version); wait for it, or once it has been running over {STALE_RUNNING_S // 3600} h (a "
                        "killed task or a lost machine) pass --take-over-stale"
                    )
        document = self.manifest(record.RUNNING)
        data = record.to_json_bytes(document)
        if not self.store.replace_if(key, data, current):
            raise StoreError(f"run {self.run_id} was started by another process at the same moment; it runs, not this")
        self._written = (document, data)
        self._beating.set()


def lease_seconds(value: float | str | None = None) -> float:
    """The lease a run holds on its id: ``value`` (``run --lease``), else $SENTIMENT_PIPELINE_LEASE_S, else LEASE_S."""
    raw = value if value is not None else os.environ.get(LEASE_ENV) or LEASE_S
    try:
        seconds = float(raw)
    except (TypeError, ValueError):
        raise ParamError(f"the lease must be a number of seconds, got {raw!r}") from None
    low, high = LEASE_RANGE_S
    if not low <= seconds <= high:
        raise ParamError(f"the lease must be between {low} and {high} s, got {raw}")
    return int(seconds) if seconds.is_integer() else seconds


def heartbeat_interval(lease_s: float) -> float:
    return min(HEARTBEAT_S, lease_s / 4)


def _lease_of(lease: dict[str, Any]) -> float:
    value = lease.get("lease_s")
    return float(value) if isinstance(value, (int, float)) and value > 0 else LEASE_S


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
    except (TypeError, ValueError):
        return float("inf")  # no start time: nothing can be waiting on it


class _Heartbeat:
    """Renews the run's claim every ``heartbeat_interval`` from a daemon thread while the run executes, and marks
    its temp folder alive (the mtime of its ``lease.json``) so the next run does not remove it. A store error
    skips one beat (one line the first time); the run goes on. Stops before the final manifest (write_manifest)."""

    def __init__(self, run: _Run, workdir: Path) -> None:
        self.run, self.beacon = run, workdir / LEASE_FILE
        try:
            self.beacon.write_text(
                json.dumps({"run_id": run.run_id, "store": run.store.uri, "pid": os.getpid(), "lease_s": run.lease_s})
            )
        except OSError:  # the run fails on its own temp folder soon enough; this only marks it for later runs
            pass
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._beat, name=f"heartbeat {run.run_id}", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.stopped.set()

    def _beat(self) -> None:
        failing = False
        while not self.stopped.wait(heartbeat_interval(self.run.lease_s)):
            try:
                self.beacon.touch()
            except OSError:
                pass
            try:
                self.run.heartbeat()
                failing = False
            except Exception as exc:
                if self.run.lost_claim:
                    self.run.progress(f"  {self.run.lost_claim}")
                    return
                if not failing:
                    self.run.progress(f"  heartbeat: could not renew the claim ({_one_line(exc)}); trying again")
                failing = True


LEASE_FILE = "lease.json"  # in a run's temp folder: the run, and by its mtime, the last heartbeat
WORKDIR_PREFIX = "sentiment-run-"


def _remove_leftovers(progress: Progress) -> None:
    """Remove the temp folders (data copies, splits, model, the kernel's connection file) that runs killed by
    SIGKILL left behind, once their lease has lapsed: no heartbeat touched their ``lease.json`` for their lease.
    A folder without one (made before runs held a lease) goes once STALE_RUNNING_S old. Never a live run's."""
    removed = []
    for folder in Path(tempfile.gettempdir()).glob(f"{WORKDIR_PREFIX}*"):
        try:
            if not folder.is_dir() or folder.is_symlink():
                continue
            beacon = folder / LEASE_FILE
            if beacon.is_file():
                try:
                    lease_s = _lease_of(json.loads(beacon.read_text()))
                except (OSError, ValueError, AttributeError):
                    lease_s = LEASE_S
                silent = time.time() - beacon.stat().st_mtime
                if silent <= lease_s:
                    continue
            elif time.time() - folder.stat().st_mtime <= STALE_RUNNING_S:
                continue
        except OSError:  # removed meanwhile (another run cleaning too)
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder.name)
    if removed:
        progress(f"  removed {len(removed)} temp folder(s) of runs that died: {', '.join(sorted(removed))}")


def _bounded(deadline: float, what: str, action: Callable[[], Any], progress: Progress | None) -> bool:
    """``action`` (store calls of a failing run) in a daemon thread, waited for until ``deadline`` (monotonic).
    True if it finished; else one progress line (none without ``progress``), and the run goes on without it (a hung
    call is left behind, in a daemon thread)."""
    outcome: list[BaseException | None] = []

    def target() -> None:
        try:
            action()
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - reported below, in one line
            outcome.append(exc)

    worker = threading.Thread(target=target, name=what, daemon=True)
    worker.start()
    worker.join(max(deadline - time.monotonic(), 0))
    if outcome and outcome[0] is None:
        return True
    if progress is not None:
        error = outcome[0] if outcome else None
        reason = "the store did not answer in time" if error is None else _reason(error)
        progress(f"  could not {what}: {reason}")
    return False


def _reason(error: BaseException) -> str:
    return str(error) if isinstance(error, StoreError) else _one_line(error)


def _upload_tree(run: _Run, local_dir: Path, prefix: str) -> None:
    for path in sorted(p for p in local_dir.rglob("*") if p.is_file()):
        run.put(f"{prefix}{path.relative_to(local_dir).as_posix()}", path.read_bytes())


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
        if not run.store.exists(run.key(record.notebook_path(name))):
            continue
        notebook = run.note_existing(record.notebook_path(name))
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
            with tempfile.TemporaryDirectory(prefix="sentiment-report-") as folder:  # read once, through the store
                (Path(folder) / f"{name}.ipynb").write_bytes(notebook or b"")
                html = notebook_execution.render_html(
                    str(Path(folder) / f"{name}.ipynb"), header, show_code=run.report_code
                )
        except Exception as exc:  # a broken notebook must not hide the original failure
            run.progress(f"could not render {name}.html: {_one_line(exc)}")
            continue
        run.put(record.report_path(name), html.encode("utf-8"))


def run_pipeline(
    data_uri: str,
    store: Store,
    run_id: str | None = None,
    overrides: dict[str, Any] | None = None,
    progress: Progress = _stderr_progress,
    take_over_stale: bool = False,
    eval_data_uri: str | None = None,
    notebooks: Path | None = None,
    reproduces: str | None = None,
    verbose: bool = False,
    report_code: bool = False,
    lease_s: float | None = None,
    sweep: str | None = None,
) -> RunResult:
    """Run preprocess and train notebooks on ``data_uri``, recording everything in ``store``.

    Raises ``ParamError``/``StoreError`` before anything is written for bad arguments, an unusable store or a run
    id that is taken (succeeded, or running: see ``_Run.claim``), ``RunFailed`` (after recording the failure) once
    the run has started.

    ``notebooks``: a folder with the notebooks to execute (default: the package's). ``reproduces``: the run this
    one re-executes; the record then names it, holds ``reproduction.json``, and ``latest.json`` stays where it is
    (a reproduction checks a model, it does not offer a new one). ``verbose``: papermill's per-cell progress and the
    cells' output on the console too (the default is one line per step; the record has everything).
    ``report_code``: the HTML reports keep the notebooks' code (hidden by default; the executed notebooks keep it).
    ``lease_s``: how long the run's claim on its id outlives its last heartbeat (default: $SENTIMENT_PIPELINE_LEASE_S,
    else LEASE_S); a run of the same id after that takes it over. ``sweep``: the sweep this run is a point of
    (``sentiment-pipeline sweep``); params.json names it, and like a reproduction it leaves ``latest.json`` alone
    (the sweep ranks its points; the best one is promoted through the quality gate, not by finishing last).
    """
    params = run_params.resolve(overrides)
    lease = lease_seconds(lease_s)
    run_id = record.check_run_id(run_id or record.new_run_id())
    source = (
        notebook_sources.NotebookFolder(notebooks, f"run {reproduces}" if reproduces else "given folder")
        if notebooks
        else notebook_sources.locate()
    )

    run = _Run(store, run_id, progress, lease)
    run.reproduces = reproduces
    run.sweep = record.check_run_id(sweep) if sweep else None
    run.report_code = report_code
    run.notebooks = notebook_sources.describe(source, notebook_execution.PIPELINE_NOTEBOOKS)
    run.claim(take_over_stale)  # also proves the store is writable before any real work
    with _stoppable(run) as stop:
        return _execute(run, data_uri, params, source.path, progress, eval_data_uri, stop, verbose)


class _Stop:
    """SIGTERM (what ECS and Airflow send to stop a task) during a run: the run ends ``failed`` with the reason and
    its temp folder removed, instead of the process dying with the manifest ``running`` forever.

    Outside a notebook the handler raises Terminated where the run is. While a notebook executes, the main thread is
    inside nbclient's asyncio loop, which logs and drops an exception raised in one of its callbacks or side tasks,
    and the run would then wait for the kernel's cell to end. So there the handler only notes the signal and ends
    the kernel; the cell fails within a second and ``check`` (before each cell, and after the notebook) raises.

    The failed record then gets SIGTERM_RECORD_S (``deadline``), and a watchdog ends the process SIGTERM_GRACE_S
    after the signal if the run is still going, as it is when a store call hangs: then with the run's one
    ``error:`` line, and the claim lapses with its lease.
    """

    def __init__(self, run: _Run | None = None) -> None:
        self.run = run
        self.signal_number: int | None = None
        self.signalled_at: float | None = None
        self.done = threading.Event()  # the run has ended (its own error line is printed by the caller)
        self.recording = False  # the run is writing its failed record: a signal no longer interrupts it

    def handle(self, signal_number: int, _frame) -> None:
        if self.signal_number is None:
            self.signalled_at = time.monotonic()
            threading.Thread(target=self._watchdog, args=(signal_number,), name="sigterm watchdog", daemon=True).start()
        if self.recording:
            return
        self.signal_number = signal_number
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # plain Python code: safe to raise right here
            raise Terminated(signal_number) from None
        notebook_execution.end_kernels()

    def check(self) -> None:
        if self.signal_number is not None:
            raise Terminated(self.signal_number)

    def deadline(self, seconds: float) -> float:
        """When a failing run's store writes must stop (monotonic): ``seconds`` from now, sooner after SIGTERM."""
        deadline = time.monotonic() + seconds
        if self.signalled_at is not None:
            deadline = min(deadline, self.signalled_at + SIGTERM_RECORD_S)
        return deadline

    def _watchdog(self, signal_number: int) -> None:
        if self.done.wait(SIGTERM_GRACE_S):
            return
        run = self.run
        reason = str(Terminated(signal_number))
        where = f"run {run.run_id} failed in {run.step}: " if run else ""
        print(
            f"error: {where}{reason}; the store did not answer within {SIGTERM_GRACE_S} s, so the record may say "
            "'running' until its lease lapses",
            file=sys.stderr,
            flush=True,
        )
        try:
            notebook_execution.end_kernels()
        finally:
            os._exit(128 + signal_number)


@contextmanager
def _stoppable(run: _Run | None = None) -> Iterator[_Stop]:
    """SIGTERM stops the run (see _Stop) while it executes. Main thread only (Python's rule for handlers)."""
    stop = _Stop(run)
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = signal.signal(signal.SIGTERM, stop.handle)
    try:
        yield stop
    finally:
        stop.done.set()
        signal.signal(signal.SIGTERM, previous)


def _note_peak(run: _Run, step: str, peak: StepPeak) -> str:
    """``<step>_peak_mb`` in the manifest's (and metrics.json's) timings, when this platform can measure it; returns
    what the step's console line says of it."""
    if peak.mb is None:
        return ""
    run.timings[f"{step}_peak_mb"] = peak.mb
    return f"   peak memory {peak.mb / 1024:.1f} GiB"


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
    edited = record.edited_notebooks({"notebooks": run.notebooks})  # the run's own manifest field, read as readers do
    if edited:
        what = "recorded notebooks differ from the installed ones" if run.reproduces else "edited notebooks"
        progress(f"  {what}: {', '.join(edited)} (compared with {run.notebooks[edited[0]]['compared_with']})")
    _remove_leftovers(progress)
    workdir = Path(tempfile.mkdtemp(prefix=WORKDIR_PREFIX))
    heartbeat = _Heartbeat(run, workdir).__enter__()
    executed: list[str] = []
    deadline: float | None = None  # set when the run fails: its store writes stop then

    def before_cell() -> None:
        stop.check()
        run.check_claim()

    try:
        run.step = "data"
        started = time.perf_counter()
        with StepPeak() as data_peak:
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
            del raw  # the notebooks read the staged copy; the runner keeps only what the record needs
            release_memory()
        run.timings["data_s"] = round(time.perf_counter() - started, 2)
        _note_peak(run, "data", data_peak)
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
                with StepPeak() as peak:
                    seconds = notebook_execution.execute(
                        source_notebooks / f"{nb_name}.ipynb",
                        _notebook_uri(store, run.key(record.notebook_path(nb_name))),
                        notebook_params,
                        cwd=workdir,
                        before_cell=before_cell,
                        verbose=verbose,
                        kernel_dir=workdir / "kernels",
                    )
            finally:
                stop.check()  # the reason a kernel ended by SIGTERM failed its cell (DeadKernelError) is the signal
            run.timings[f"{nb_name}_s"] = round(seconds, 2)
            progress(
                f"  [{index}/{len(notebook_execution.PIPELINE_NOTEBOOKS)}] {nb_name + '.ipynb':<17} {seconds:6.1f} s"
                + _note_peak(run, nb_name, peak)
            )

        run.step = "record"
        started = time.perf_counter()
        with StepPeak() as record_peak:
            run.check_claim()
            _render_reports(run, executed, params, "succeeded")
            _upload_tree(run, workdir / "data", record.DATA_DIR)
            _upload_tree(run, workdir / "model", record.MODEL_DIR)
            metrics = documents.read_metrics_file(workdir / "out")
        run.timings["record_s"] = round(time.perf_counter() - started, 2)
        progress(f"  {'record':<23} {run.timings['record_s']:6.1f} s" + _note_peak(run, "record", record_peak))
        metrics = documents.with_timings(metrics, run.timings, time.perf_counter() - run.clock)
        run.put(record.METRICS, record.to_json_bytes(metrics))
        reproduction = None
        if run.reproduces:
            from .reproduction import compare_records, summary

            run.step = "compare"
            reproduction = compare_records(store, run.reproduces, run_id, run.manifest(record.RUNNING))
            run.put(record.REPRODUCTION, record.to_json_bytes(reproduction))
            progress(f"  reproduction: {summary(reproduction)}")
        heartbeat.__exit__()
        run.write_manifest("succeeded")
        moves_latest = not (run.reproduces or run.sweep)
        if moves_latest:
            documents.write_latest(store, run_id, metrics["model"]["macro_f1"])
        lstm, baseline = metrics["model"]["macro_f1"], metrics["baseline"]["macro_f1"]
        progress(
            f"succeeded in {time.perf_counter() - run.clock:.0f} s: macro-F1 {lstm:.4f} against the baseline's "
            f"{baseline:.4f} ({lstm - baseline:+.4f}{_interval_reading(metrics)})"
            + (f"; latest.json -> {run_id}" if moves_latest else "")
        )
        reports = ", ".join(Path(record.report_path(name)).name for name in executed)
        progress(f"reports: {store.uri_for(run.key(record.REPORTS_DIR))} ({reports})")
        return RunResult(
            run_id,
            store.uri,
            metrics,
            round(time.perf_counter() - run.clock, 2),
            reproduction,
            tuple(edited),
        )
    except BaseException as exc:
        stop.recording = True  # the failed record must get written: SIGTERM now only shortens its time
        heartbeat.__exit__()
        message = str(exc) if isinstance(exc, (DatasetError, StoreError, Terminated)) else _one_line(exc)
        progress(f"FAILED in {run.step}: {message}")
        for line in notebook_execution.failure_details(exc):
            progress(f"  {line}")
        deadline = stop.deadline(FAILURE_RECORD_S)
        _record_failure(run, executed, params, message, deadline)
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise RunFailed(run_id, run.step, message) from exc
    finally:
        heartbeat.__exit__()
        shutil.rmtree(workdir, ignore_errors=True)
        index_deadline = deadline if deadline is not None else time.monotonic() + FAILURE_RECORD_S
        _bounded(index_deadline, "refresh the runs index", lambda: refresh_index(store, progress), progress)


def _record_failure(run: _Run, executed: list[str], params: dict, message: str, deadline: float) -> None:
    """The failed manifest first, retried until ``deadline`` (a store out for a moment, or still failing); then the
    reports of the notebooks that ran and the manifest again with their files. A store error after the failed
    manifest is one progress line: it never hides the run's own failure, and never keeps the process alive."""
    progress = run.progress
    while not _bounded(
        deadline,
        "write the failed manifest",
        lambda: run.write_manifest("failed", message, deadline - time.monotonic()),
        None,  # retried quietly; one line if it never succeeds
    ):
        if run.lost_claim:
            progress(f"  {run.lost_claim}")
            return
        if time.monotonic() + 2 > deadline:
            progress(
                "  could not write the failed manifest in time (the store failed or did not answer): the record of "
                f"run {run.run_id} says "
                f"'running' until its lease lapses, {run.lease_s:.0f} s after its last heartbeat; a retry then takes "
                "the run id over"
            )
            return
        time.sleep(2)
    files = dict(run.files)
    read = _bounded(
        deadline,
        "read the executed notebooks",
        lambda: [run.note_existing(record.notebook_path(name)) for name in executed],
        progress,
    )
    if read and run.step not in ("record", "compare"):  # else its reports were written before it failed
        status = f"failed in {run.step}: {message}"
        _bounded(deadline, "render the reports", lambda: _render_reports(run, executed, params, status), progress)
    if run.files != files:  # the manifest lists the notebooks and reports it holds
        _bounded(deadline, "list them in the manifest", lambda: run.write_manifest("failed", message), progress)
