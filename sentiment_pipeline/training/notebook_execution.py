"""Running the parameterized notebooks with papermill and rendering them to HTML with nbconvert."""

from __future__ import annotations

import logging
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import StoreError
from ..records.store import _os_error, _s3_error, s3_config, write_atomically

if TYPE_CHECKING:
    from .reports import ReportHeader

PIPELINE_NOTEBOOKS: tuple[str, ...] = ("preprocess", "train")
COMPARISON_NOTEBOOK = "compare"  # `sentiment-pipeline compare`'s report, rendered from a comparison's JSON
MONITOR_NOTEBOOK = "monitor"  # `sentiment-pipeline monitor`'s report on a served model's captured answers
SWEEP_NOTEBOOK = "sweep"  # `sentiment-pipeline sweep`'s report, rendered from a sweep's JSON


def declared_parameters(notebook: Path) -> set[str]:
    """Names in the notebook's ``parameters`` cell, so each notebook gets only what it declares."""
    import papermill

    return set(papermill.inspect_notebook(str(notebook)))


class _NotebookWrites:
    """papermill's I/O handler for one kind of path, wrapped for the executed notebook's saves (papermill writes the
    notebook itself, after every cell): a failed write is one ``StoreError`` line, and once one has failed the same
    execution's later writes fail at once instead of waiting on the store again (papermill saves once more when the
    notebook ends, failed or not; on a hung store each save would cost the whole S3 timeout)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.failed: StoreError | None = None

    def read(self, path):
        return self.inner.read(path)

    def listdir(self, path):
        return self.inner.listdir(path)

    def pretty_path(self, path):
        return self.inner.pretty_path(path)

    def cwd(self, new_path):
        return self.inner.cwd(new_path)

    def write(self, buf, path) -> None:
        if self.failed is not None:
            raise StoreError(str(self.failed))
        try:
            self.inner.write(buf, path)
        except StoreError as exc:
            self.failed = exc
            raise
        except Exception as exc:  # botocore's from papermill's S3 handler (some are OSErrors too), or the disk's
            if str(path).startswith("s3://"):
                self.failed = _s3_error(exc, str(path))
            elif isinstance(exc, OSError):
                self.failed = _os_error(exc, f"cannot write {path}")
            else:
                self.failed = StoreError(f"cannot write {path}: {type(exc).__name__}: {exc}")
            raise self.failed from None
        except BaseException:  # SIGTERM (Terminated) in the middle of a write: the notebook is not saved again
            self.failed = StoreError(f"the write of {path} was interrupted")
            raise


def _atomic_local_handler():
    from papermill.iorw import LocalHandler, chdir

    class AtomicLocalHandler(LocalHandler):
        """papermill's local handler, writing through a temporary file and a rename (its own opens the file and
        writes it in place: a full disk left a cut-off notebook in the record)."""

        def write(self, buf, path):
            with chdir(self._cwd):
                target = Path(path).absolute()
                if not target.parent.is_dir():
                    raise FileNotFoundError(f"output folder {target.parent} doesn't exist.")
                write_atomically(target, buf.encode("utf-8"))

    return AtomicLocalHandler()


_HANDLERS: dict[str, _NotebookWrites] = {}


def _notebook_io() -> dict[str, _NotebookWrites]:
    """papermill's I/O for this process's executions: local writes atomic, S3 through clients with the store's
    timeouts and bounded retries (``store.s3_config``), every failed write a ``StoreError``. Installed once;
    the S3 session is made anew for every execution, from the environment as it is then."""
    import boto3
    from papermill import iorw
    from papermill.s3 import S3

    with S3.lock:  # papermill caches one boto3 session, client and resource for all its S3 I/O: ours, configured
        session = boto3.session.Session()
        endpoint = os.environ.get("BOTO3_ENDPOINT_URL")  # papermill's own variable, as its S3 class reads it
        S3.s3_session = (
            session,
            session.client("s3", config=s3_config()),
            session.resource("s3", config=s3_config(), **({"endpoint_url": endpoint} if endpoint else {})),
        )
    if not _HANDLERS:
        _HANDLERS["local"] = _NotebookWrites(_atomic_local_handler())
        _HANDLERS["s3://"] = _NotebookWrites(iorw.S3Handler)
        # papermill picks a handler by prefix, newest first, but falls back to its *oldest* "local" one for plain
        # paths: register() alone would not replace it, so the entries are swapped in place.
        iorw.papermill_io._handlers = [
            (scheme, _HANDLERS.get(scheme, handler)) for scheme, handler in iorw.papermill_io._handlers
        ]
    for handler in _HANDLERS.values():
        handler.failed = None
    return _HANDLERS


def execute(
    notebook: Path,
    output_uri: str,
    parameters: dict,
    cwd: Path,
    before_cell: Callable[[], None] | None = None,
    verbose: bool = False,
    kernel_dir: Path | None = None,
) -> float:
    """Execute with papermill, saving after every cell (a watcher sees progress, a crash keeps the error).

    ``output_uri`` may be a local path or ``s3://``: papermill's own I/O handlers write it, local files atomically
    (a reader never sees a cut-off notebook) and S3 with the store's timeouts; a failed write raises ``StoreError``.
    ``kernel_dir``: where the kernel's connection file goes (default: the system's temp folder, where a process killed
    with SIGKILL leaves it); the runner gives its run's temp folder, which the next run cleans once its lease lapses.
    Raises ``papermill.PapermillExecutionError`` when a cell fails; the output is written first.
    ``before_cell`` runs before each cell inside the coroutine that executes it, the one place in nbclient's event
    loop where an exception reaches the caller (one raised in a callback or a side task is logged and dropped).
    Quiet unless ``verbose``: the executed notebook and its report hold every cell's output, so the console (and the
    Airflow task log) gets the runner's one line per notebook; ``verbose`` adds papermill's per-cell lines and the
    cells' text output, ANSI colour codes removed.
    """
    import papermill

    wanted = declared_parameters(notebook)
    # The kernel inherits this: TensorFlow's C++ start-up chatter would bury the cell output in task logs.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    _configure_papermill_log(verbose)
    _notebook_io()
    kernel_config = {}
    if kernel_dir is not None:
        from traitlets.config import Config

        kernel_dir.mkdir(parents=True, exist_ok=True)
        connection_file = kernel_dir / f"kernel-{notebook.stem}.json"
        kernel_config["config"] = Config({"KernelManager": {"connection_file": str(connection_file)}})
    started = time.perf_counter()
    papermill.execute_notebook(
        str(notebook),
        output_uri,
        parameters={k: v for k, v in parameters.items() if k in wanted},
        kernel_name="python3",
        cwd=str(cwd),
        progress_bar=False,
        log_output=verbose,
        request_save_on_cell_execute=True,
        on_cell_start=(lambda **_: before_cell()) if before_cell else None,
        # The kernel's own log says, every run, that it talks TCP without encryption (to its parent, on loopback) and,
        # on the interrupt that precedes every clean shutdown, "KeyboardInterrupt caught in kernel". A real kernel
        # failure still reaches the run as the failing cell's DeadKernelError.
        # Stopping a run can close the kernel's sockets while it still flushes: pyzmq then logs the error, traceback
        # and all, through tornado's logger, which goes straight to the run's console past the one-line error.
        extra_arguments=["--IPKernelApp.log_level=CRITICAL", f"--IPKernelApp.exec_lines={QUIET_TORNADO}"],
        **kernel_config,
    )
    return time.perf_counter() - started


QUIET_TORNADO = "import logging; logging.getLogger('tornado.general').setLevel(logging.CRITICAL)"
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# The text/plain stand-in of a rich output (a styled table, a figure, Markdown): says nothing in a log.
OBJECT_REPR = re.compile(r"^<[\w.]+( object)?( at 0x[0-9a-f]+| with \d+ Axes| size \d+x\d+ with \d+ Axes)?>$")


def strip_ansi(text: str) -> str:
    return ANSI_ESCAPE.sub("", text)


class _NoAnsi(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return strip_ansi(super().format(record))


def _not_an_object_repr(record: logging.LogRecord) -> bool:
    return not OBJECT_REPR.match(record.getMessage().strip())


def _configure_papermill_log(verbose: bool) -> None:
    """papermill logs every cell start and end at INFO; only ``verbose`` shows them, on stderr, without colour codes."""
    logger = logging.getLogger("papermill")
    logger.setLevel(logging.INFO if verbose else logging.WARNING)
    if verbose and not any(isinstance(h.formatter, _NoAnsi) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_NoAnsi("%(message)s"))
        handler.addFilter(_not_an_object_repr)
        logger.addHandler(handler)
        logger.propagate = False


def one_line(exc: BaseException) -> str:
    """A failure in one line: a notebook cell's number, exception and first message line, else the exception's."""
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, PapermillExecutionError):
        return f"cell {exc.exec_count}: {exc.ename}: {str(exc.evalue).strip().splitlines()[0] if exc.evalue else ''}"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def failure_details(exc: BaseException, lines: int = 8) -> list[str]:
    """For a failed cell: the tail of its source and of its traceback (without colour codes), to print under the
    run's one-line error so a reader of the console or task log sees what broke without opening the notebook."""
    from papermill.exceptions import PapermillExecutionError

    if not isinstance(exc, PapermillExecutionError):
        return []
    source = [line for line in (exc.source or "").splitlines() if line.strip()]
    trace = [line for line in strip_ansi("\n".join(exc.traceback or [])).splitlines() if line.strip()]
    shown = [f"cell {exc.exec_count} (last {min(lines, len(source))} of {len(source)} lines):"]
    shown += [f"    {line}" for line in source[-lines:]]
    shown += ["traceback (tail):"] + [f"    {line}" for line in trace[-lines:]]
    return shown


def end_kernels() -> int:
    """Terminate the Jupyter kernels this process started, and what they started; returns how many kernels.

    The runner's SIGTERM handler calls it while a notebook executes: the cell in flight then fails within a second
    (nbclient polls the kernel) instead of running to its end, possibly hours of training.
    """
    import psutil

    kernels = 0
    for child in psutil.Process().children():
        try:
            if not any("ipykernel" in part for part in child.cmdline()):
                continue
            for process in (*child.children(recursive=True), child):
                process.terminate()
            kernels += 1
        except psutil.NoSuchProcess:  # ended on its own meanwhile
            continue
    return kernels


def render_html(notebook_uri: str, header: ReportHeader | None = None, *, show_code: bool = False) -> str:
    """The executed notebook as one self-contained HTML page (plots are embedded as data URIs), for a reader: it
    opens with ``header`` (report name, run, data, date, status, parameters) and the page title names the report and
    the run; the code is hidden unless ``show_code``; the parameter cells never appear (``reports.report_notebook``).
    The notebook at ``notebook_uri`` is not changed."""
    from nbconvert import HTMLExporter
    from papermill.iorw import load_notebook_node

    from .reports import report_notebook, with_page_css

    exporter = HTMLExporter(template_name="lab")
    # nbconvert warns on every figure without alt text (then gives it a generic one); each figure's heading in
    # the report says what it shows, so the warning is only noise in the run's output.
    exporter.log.addFilter(lambda record: not record.getMessage().startswith("Alternative text is missing"))
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    exporter.exclude_input = not show_code
    body, _ = exporter.from_notebook_node(report_notebook(load_notebook_node(notebook_uri), header, show_code))
    return with_page_css(body)
