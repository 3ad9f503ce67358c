"""Running the parameterized notebooks with papermill and rendering them to HTML with nbconvert."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

PIPELINE_NOTEBOOKS: tuple[str, ...] = ("preprocess", "train")
COMPARISON_NOTEBOOK = "compare"  # `sentiment-pipeline compare`'s report, rendered from a comparison's JSON


def declared_parameters(notebook: Path) -> set[str]:
    """Names in the notebook's ``parameters`` cell, so each notebook gets only what it declares."""
    import papermill

    return set(papermill.inspect_notebook(str(notebook)))


def execute(
    notebook: Path, output_uri: str, parameters: dict, cwd: Path, before_cell: Callable[[], None] | None = None
) -> float:
    """Execute with papermill, saving after every cell (a watcher sees progress, a crash keeps the error).

    ``output_uri`` may be a local path or ``s3://``: papermill's own I/O handlers write it.
    Raises ``papermill.PapermillExecutionError`` when a cell fails; the output is written first.
    ``before_cell`` runs before each cell inside the coroutine that executes it, the one place in nbclient's event
    loop where an exception reaches the caller (one raised in a callback or a side task is logged and dropped).
    """
    import papermill

    wanted = declared_parameters(notebook)
    # The kernel inherits this: TensorFlow's C++ start-up chatter would bury the cell output in task logs.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    started = time.perf_counter()
    interactive = sys.stderr.isatty()
    papermill.execute_notebook(
        str(notebook),
        output_uri,
        parameters={k: v for k, v in parameters.items() if k in wanted},
        kernel_name="python3",
        cwd=str(cwd),
        progress_bar=interactive,
        log_output=not interactive,  # in a container the cell output goes to the task log instead
        request_save_on_cell_execute=True,
        on_cell_start=(lambda **_: before_cell()) if before_cell else None,
    )
    return time.perf_counter() - started


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


def render_html(notebook_uri: str) -> str:
    """The executed notebook as one self-contained HTML page (plots are embedded as data URIs)."""
    from nbconvert import HTMLExporter
    from papermill.iorw import load_notebook_node

    exporter = HTMLExporter(template_name="lab")
    # nbconvert warns on every figure without alt text (then gives it a generic one); each figure's heading in
    # the report says what it shows, so the warning is only noise in the run's output.
    exporter.log.addFilter(lambda record: not record.getMessage().startswith("Alternative text is missing"))
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    body, _ = exporter.from_notebook_node(load_notebook_node(notebook_uri))
    return body
