"""Bad input gets a clear one-line error; a failed run keeps its record and never moves latest.json."""

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import nbformat
import pytest

from support.project import BIN, FAST, NOTEBOOKS, TINY, as_args, cli

pytestmark = pytest.mark.slow


@pytest.fixture
def store_with_good_run(finished_run, tmp_path) -> tuple[Path, str]:
    """A private copy of a store holding one succeeded run, so failures here disturb no other test."""
    source, run_id = finished_run
    shutil.copytree(source, tmp_path / "store")
    return tmp_path / "store", run_id


def _notebooks_with_cell(tmp_path: Path, code: str) -> Path:
    """A copy of the pipeline's notebooks whose train notebook runs ``code`` before training."""
    copy = tmp_path / "notebooks"
    shutil.copytree(NOTEBOOKS, copy)
    notebook = nbformat.read(copy / "train.ipynb", as_version=4)
    notebook.cells.insert(5, nbformat.v4.new_code_cell(code))
    nbformat.write(notebook, copy / "train.ipynb")
    return copy


def _latest(store: Path) -> bytes | None:
    path = store / "latest.json"
    return path.read_bytes() if path.exists() else None


# One bad dataset through the CLI: the path (exit 2, one error line, a failed manifest at the data step, latest.json
# untouched) is the same for every DatasetError, whose messages test_data.py checks in process.
@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"text,sentiment\nhi,positive\n", "missing column(s) label_text (found: text, sentiment)"),
        # parses, but the split cannot be made: stopped by the runner's own split, not inside a notebook cell
        (
            ("text,label_text\n" + "".join(f"great day {w},positive\n" for w in "abcdefgh")).encode(),
            "too few distinct texts per label for a stratified split (negative 0, neutral 0; need 5)",
        ),
    ],
    ids=["missing-column", "one-label"],
)
def test_bad_dataset_fails_before_training(store_with_good_run, tmp_path, content, message):
    store, good_run = store_with_good_run
    latest = _latest(store)
    data = tmp_path / "bad.csv"
    data.write_bytes(content)
    result = cli("run", "--data", str(data), "--store", str(store), *FAST)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], result.stderr
    assert _latest(store) == latest  # the last good model stays the served one
    failed = [json.loads(p.read_text()) for p in store.glob("runs/*/manifest.json")]
    failed = [m for m in failed if m["status"] == "failed" and message in (m["error"] or "")]
    assert failed and failed[-1]["failed_step"] == "data"
    assert not (store / "runs" / failed[-1]["run_id"] / "notebooks").exists()  # nothing was trained


def test_missing_data_file_and_bad_parameter_are_usage_errors(tmp_path):
    result = cli("run", "--data", str(tmp_path / "nope.csv"), "--store", str(tmp_path / "store"))
    assert result.returncode == 2 and "nope.csv does not exist" in result.stderr
    result = cli("run", "--data", str(tmp_path / "x.csv"), "--store", str(tmp_path / "store"), "-p", "epoch=1")
    assert result.returncode == 2 and "unknown parameter 'epoch'" in result.stderr
    assert not (tmp_path / "store" / "runs").exists() or not any((tmp_path / "store" / "runs").glob("*/params.json"))


def test_a_failing_cell_keeps_its_notebook_and_a_failed_manifest_and_a_verbose_retry_replaces_them(
    store_with_good_run, labelled_csv, tmp_path
):
    store, good_run = store_with_good_run
    latest = _latest(store)
    broken = _notebooks_with_cell(tmp_path, "raise RuntimeError('boom: simulated failure')")

    result = cli(
        "run",
        "--data",
        str(labelled_csv),
        "--store",
        str(store),
        "--run-id",
        "broken-run",
        *FAST,
        env={"SENTIMENT_PIPELINE_NOTEBOOKS": str(broken)},
    )
    assert result.returncode == 1
    assert "run broken-run failed in train: cell" in result.stderr and "boom: simulated failure" in result.stderr
    # the console shows the failing cell and its traceback's tail, and nothing of the cells that worked
    assert "    raise RuntimeError('boom: simulated failure')" in result.stderr and "traceback (tail):" in result.stderr
    assert (
        "\x1b[" not in result.stderr
        and "Executing Cell" not in result.stderr
        and "KeyboardInterrupt" not in result.stderr
    )

    run = store / "runs" / "broken-run"
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "failed" and manifest["failed_step"] == "train"
    edited = manifest["notebooks"]["train.ipynb"]  # the inserted cell is an edit, and the record says whose
    assert edited["edited"] is True and edited["origin"] == "SENTIMENT_PIPELINE_NOTEBOOKS"
    assert edited["path"] == str(broken / "train.ipynb") and edited["compared_with"].startswith("git ")
    assert "RuntimeError: boom: simulated failure" in manifest["error"]
    executed = nbformat.read(run / "notebooks" / "train.ipynb", as_version=4)
    errors = [
        o
        for c in executed.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    assert errors and errors[0]["evalue"] == "boom: simulated failure"
    assert "boom: simulated failure" in (run / "reports" / "train.html").read_text()
    assert (run / "reports" / "preprocess.html").is_file()
    assert not (run / "model").exists() and not (run / "metrics.json").exists()
    assert _latest(store) == latest and json.loads(latest)["run_id"] == good_run

    # A retry of the same run id (what an Airflow retry does) may replace a failed record (any model will do). It
    # runs with -v: the console then shows each cell and its output, without colour codes or object reprs.
    retry = cli(
        "run", "--data", str(labelled_csv), "--store", str(store), "--run-id", "broken-run", "-v", *as_args(TINY)
    )
    assert retry.returncode == 0, retry.stderr
    assert retry.stderr.count("Executing Cell") >= 20 and "member 1/1" in retry.stderr  # cells and their output
    for noise in ("IPKernelApp", "KeyboardInterrupt", "Styler at 0x", "object>", "\x1b["):
        assert noise not in retry.stderr, noise
    assert json.loads((run / "manifest.json").read_text())["status"] == "succeeded"
    assert json.loads(_latest(store))["run_id"] == "broken-run"


def test_sigterm_ends_the_run_failed_with_the_reason_and_nothing_left_behind(
    store_with_good_run, labelled_csv, tmp_path
):
    """What ECS and Airflow send to stop a task: the run must end `failed`, not stay `running` forever."""
    store, good_run = store_with_good_run
    latest = _latest(store)
    # A cell that keeps printing keeps the run's event loop busy in its output callbacks, where an exception raised
    # by a signal handler would be dropped and the run would wait the cell out (this once hung CI).
    started = tmp_path / "training-step-started"  # the console is quiet: the cell says it runs through a file
    long_step = (
        f"import pathlib, time\npathlib.Path({str(started)!r}).touch()\n"
        "for _ in range(60_000):  # stopped long before\n    print('.', flush=True)\n    time.sleep(0.01)"
    )
    slow = _notebooks_with_cell(tmp_path, long_step)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**os.environ, "SENTIMENT_PIPELINE_NOTEBOOKS": str(slow), "TMPDIR": str(scratch)}
    command = [str(BIN / "sentiment-pipeline"), "run", "--data", str(labelled_csv), "--store", str(store)]
    process = subprocess.Popen(
        [*command, "--run-id", "stopped-run", *FAST],
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    while not started.exists():  # wait until the training notebook runs the cell
        assert process.poll() is None and time.monotonic() < deadline, "the run ended or never reached the cell"
        time.sleep(0.2)
    lines = []
    process.send_signal(signal.SIGTERM)
    try:
        _, rest = process.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        pytest.fail("the run was still going 90 s after SIGTERM:\n" + process.communicate()[1][-2000:])

    assert process.returncode == 128 + signal.SIGTERM, "".join(lines)[-2000:] + rest[-2000:]
    assert rest.strip().splitlines()[-1] == (
        "error: run stopped-run failed in train: stopped by signal 15 (SIGTERM: the task was stopped)"
    )
    manifest = json.loads((store / "runs" / "stopped-run" / "manifest.json").read_text())
    assert manifest["status"] == "failed" and manifest["failed_step"] == "train" and "SIGTERM" in manifest["error"]
    assert _latest(store) == latest
    assert not list(scratch.glob("sentiment-run-*"))  # the run's temp folder is gone
    assert _session_ends(process.pid), "a process of the run (the notebook's kernel) outlived it"


def _session_ends(session: int, within_s: float = 30) -> bool:
    """Whether every process of ``session`` is gone (a kernel may take a moment to exit after its parent)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            os.killpg(session, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False
