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

if TYPE_CHECKING:
    from .reports import ReportHeader

PIPELINE_NOTEBOOKS: tuple[str, ...] = ("preprocess", "train")
COMPARISON_NOTEBOOK = "compare"  # `sentiment-pipeline compare`'s report, rendered from a comparison's JSON


def declared_parameters(notebook: Path) -> set[str]:
    """Names in the notebook's ``parameters`` cell, so each notebook gets only what it declares."""
    import papermill

    return set(papermill.inspect_notebook(str(notebook)))


def execute(
    notebook: Path,
    output_uri: str,
    parameters: dict,
    cwd: Path,
    before_cell: Callable[[], None] | None = None,
    verbose: bool = False,
) -> float:
    """Execute with papermill, saving after every cell (a watcher sees progress, a crash keeps the error).

    ``output_uri`` may be a local path or ``s3://``: papermill's own I/O handlers write it.
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
        extra_arguments=["--IPKernelApp.log_level=CRITICAL"],
    )
    return time.perf_counter() - started


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
