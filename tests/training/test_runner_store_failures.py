"""A store that fails, fills or hangs never strands a run: real runs of the CLI against a store made to fail mid-run.

S3 is the moto server on loopback behind a TCP forwarder (support/forwarder.py) the test stops, restarts or turns
into a black hole; a full disk is a small tmpfs the test fills (support/disk.py). Each run pauses in a cell the test
inserts, which touches a marker file, so the store fails while a notebook is executing, as it did in the issue.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import boto3
import nbformat
import pytest

from support.disk import fill, small_disk
from support.forwarder import Forwarder
from support.project import BIN, NOTEBOOKS, TINY, as_args, cli

pytestmark = pytest.mark.slow

BUCKET = "store-failures"


def _notebooks_pausing(tmp_path: Path, notebook: str, code: str) -> Path:
    """A copy of the pipeline's notebooks whose ``notebook`` runs ``code`` right after its parameters; the code
    touches $STORE_TEST_MARK first."""
    copy = tmp_path / "notebooks"
    copy.mkdir(exist_ok=True)
    for source in NOTEBOOKS.glob("*.ipynb"):
        (copy / source.name).write_bytes(source.read_bytes())
    nb = nbformat.read(copy / f"{notebook}.ipynb", as_version=4)
    touch = "import os, time\nopen(os.environ['STORE_TEST_MARK'], 'w').close()\n"
    nb.cells.insert(2, nbformat.v4.new_code_cell(touch + code))
    nbformat.write(nb, copy / f"{notebook}.ipynb")
    return copy


def _start(tmp_path: Path, notebooks: Path, args: list[str], env: dict) -> tuple[subprocess.Popen, Path]:
    marker = tmp_path / "paused"
    process = subprocess.Popen(
        [str(BIN / "sentiment-pipeline"), "run", *args, *as_args(TINY)],
        env={
            **os.environ,
            **env,
            "SENTIMENT_PIPELINE_NOTEBOOKS": str(notebooks),
            "STORE_TEST_MARK": str(marker),
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    return process, marker


def _wait_for(process: subprocess.Popen, marker: Path, timeout: float = 180) -> None:
    """Until the run reaches the inserted cell."""
    deadline = time.monotonic() + timeout
    while not marker.exists():
        if process.poll() is not None:
            stderr = process.communicate()[1]
            pytest.fail(f"the run ended (exit {process.returncode}) before the cell:\n{stderr[-3000:]}")
        if time.monotonic() > deadline:
            _kill(process)
            pytest.fail(f"the run did not reach the inserted cell within {timeout:.0f} s")
        time.sleep(0.05)


def _finish(process: subprocess.Popen, timeout: float, what: str) -> tuple[int, str]:
    """The exit code and stderr of a run that must end within ``timeout`` s."""
    try:
        _, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(process)
        pytest.fail(f"{what}: the run was still going {timeout:.0f} s later:\n{process.communicate()[1][-3000:]}")
    return process.returncode, stderr


def _kill(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


@pytest.fixture
def s3(aws_env):
    """The test's own view of the moto server (not through the forwarder), with an empty bucket."""
    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    yield client
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for item in page.get("Contents", []):
            client.delete_object(Bucket=BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=BUCKET)


@pytest.fixture
def forwarder(moto_server):
    with Forwarder(int(moto_server["AWS_ENDPOINT_URL"].rsplit(":", 1)[1])) as forwarding:
        yield forwarding


def _get_json(s3, key: str) -> dict:
    return json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())


def test_s3_out_of_reach_for_a_moment_mid_run_leaves_a_failed_record_and_the_id_free_for_a_retry(
    tmp_path, labelled_csv, s3, forwarder, moto_server
):
    """The issue: S3 unreachable for ~10 s mid-run. The run exited 2 with its manifest `running` for good, and the
    retry of the same id was refused for 6 hours."""
    store = f"s3://{BUCKET}/pipeline"
    notebooks = _notebooks_pausing(tmp_path, "preprocess", "time.sleep(3)")
    env = {**moto_server, "AWS_ENDPOINT_URL": forwarder.url}
    args = ["--data", str(labelled_csv), "--store", store, "--run-id", "outage"]
    process, marker = _start(tmp_path, notebooks, args, env)
    _wait_for(process, marker)
    forwarder.stop()  # the cell's end is saved to S3: refused
    time.sleep(12)
    forwarder.start()
    code, stderr = _finish(process, 120, "S3 back after 12 s")

    assert code == 2, stderr[-3000:]
    errors = _errors(stderr)
    assert len(errors) == 1 and errors[0].startswith("error: run outage failed in preprocess: "), stderr[-3000:]
    assert "Traceback" not in stderr
    manifest = _get_json(s3, "pipeline/runs/outage/manifest.json")
    assert manifest["status"] == "failed" and manifest["failed_step"] == "preprocess", manifest
    notebook = s3.get_object(Bucket=BUCKET, Key="pipeline/runs/outage/notebooks/preprocess.ipynb")["Body"].read()
    nbformat.reads(notebook.decode(), as_version=4)  # a whole notebook: the last save that went through

    retry = cli("run", "--data", str(labelled_csv), "--store", store, "--run-id", "outage", *as_args(TINY), env=env)
    assert retry.returncode == 0, retry.stderr[-3000:]
    assert _get_json(s3, "pipeline/runs/outage/manifest.json")["status"] == "succeeded"


def test_a_full_disk_mid_run_fails_it_with_one_line_a_failed_record_and_no_cut_off_notebook(tmp_path, labelled_csv):
    """The issue: the disk filled while the train notebook was saved. The record kept `running` and a `train.ipynb`
    cut off in the middle (invalid JSON)."""
    output = "for _ in range(6000):\n    print('a line of training output that fills the disk ' * 2)"  # ~600 KB
    notebooks = _notebooks_pausing(tmp_path, "train", f"time.sleep(1)\n{output}")
    with small_disk(tmp_path / "disk", size_kb=4096) as disk:
        store = disk / "store"
        args = ["--data", str(labelled_csv), "--store", str(store), "--run-id", "full-disk"]
        process, marker = _start(tmp_path, notebooks, args, {})
        _wait_for(process, marker)
        fill(disk, leave_bytes=96 * 1024)  # room for a manifest, not for the notebook with the cell's output
        code, stderr = _finish(process, 120, "disk full")

        assert code == 2, stderr[-3000:]
        errors = _errors(stderr)
        assert len(errors) == 1 and "No space left on device" in errors[0], stderr[-3000:]
        assert errors[0].startswith("error: run full-disk failed in train: cannot write ")
        run = store / "runs" / "full-disk"
        manifest = json.loads((run / "manifest.json").read_text())
        assert manifest["status"] == "failed" and manifest["failed_step"] == "train", manifest
        for name in ("preprocess.ipynb", "train.ipynb"):
            nbformat.read(run / "notebooks" / name, as_version=4)  # whole notebooks only
        assert not [p.name for p in run.rglob(".*")]  # no temporary file left


def test_a_hung_s3_endpoint_ends_the_run_within_three_minutes_with_one_error_line(
    tmp_path, labelled_csv, s3, forwarder, moto_server
):
    """The issue: S3 stopped answering mid-run (moto under SIGSTOP) and the run made no progress for over 5 min."""
    notebooks = _notebooks_pausing(tmp_path, "preprocess", "time.sleep(2)")
    env = {**moto_server, "AWS_ENDPOINT_URL": forwarder.url}
    args = ["--data", str(labelled_csv), "--store", f"s3://{BUCKET}/pipeline", "--run-id", "hung"]
    process, marker = _start(tmp_path, notebooks, args, env)
    _wait_for(process, marker)
    forwarder.black_hole()
    hung_at = time.monotonic()
    code, stderr = _finish(process, 180, "S3 hung")
    print(f"the run ended {time.monotonic() - hung_at:.0f} s after S3 stopped answering")

    assert code == 2, stderr[-3000:]
    errors = _errors(stderr)
    assert len(errors) == 1 and errors[0].startswith("error: run hung failed in preprocess: "), stderr[-3000:]
    assert "timeout" in errors[0].lower() and "Traceback" not in stderr
    assert forwarder.swallowed > 0  # the store calls did reach the hung endpoint


def test_sigterm_ends_the_process_within_30_s_while_a_store_call_hangs(
    tmp_path, labelled_csv, s3, forwarder, moto_server
):
    """The issue: after SIGTERM the run said "stopped by signal 15" and stayed alive on its hung store calls until
    killed (ECS sends SIGKILL 30 s after SIGTERM)."""
    notebooks = _notebooks_pausing(tmp_path, "preprocess", "time.sleep(2)")
    env = {**moto_server, "AWS_ENDPOINT_URL": forwarder.url}
    args = ["--data", str(labelled_csv), "--store", f"s3://{BUCKET}/pipeline", "--run-id", "stopped"]
    process, marker = _start(tmp_path, notebooks, args, env)
    _wait_for(process, marker)
    forwarder.black_hole()
    if not forwarder.wait_swallowed(timeout=60):  # the notebook's save at the cell's end now waits on S3
        _kill(process)
        pytest.fail("no store call reached the hung endpoint within 60 s")
    time.sleep(1)
    process.send_signal(signal.SIGTERM)
    signalled_at = time.monotonic()
    code, stderr = _finish(process, 30, "SIGTERM with a hung store")
    print(f"the process ended {time.monotonic() - signalled_at:.1f} s after SIGTERM")

    assert code == 128 + signal.SIGTERM, stderr[-3000:]
    errors = _errors(stderr)
    assert len(errors) == 1 and "stopped by signal 15" in errors[0], stderr[-3000:]
    assert "Traceback" not in stderr
    _kill(process)  # the notebook's kernel, had it outlived the run


def test_a_run_killed_with_sigkill_is_taken_over_once_its_lease_lapses_and_its_leftovers_go(tmp_path, labelled_csv):
    """SIGKILL leaves the claim `running`, the run's temp folder and the kernel's connection file. The claim holds
    while the lease runs (here 20 s), then the next run of the id takes it over with one warning and cleans up."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    store = tmp_path / "store"
    notebooks = _notebooks_pausing(tmp_path, "train", "time.sleep(120)")
    env = {"TMPDIR": str(scratch), "SENTIMENT_PIPELINE_LEASE_S": "20"}
    args = ["--data", str(labelled_csv), "--store", str(store), "--run-id", "killed"]
    process, marker = _start(tmp_path, notebooks, args, env)
    try:
        _wait_for(process, marker)
        process.kill()  # the runner only: its kernel notices its parent is gone and ends itself
        process.communicate(timeout=30)

        leftovers = sorted(p.name for p in scratch.iterdir())
        assert len(leftovers) == 1 and leftovers[0].startswith("sentiment-run-"), leftovers
        left = scratch / leftovers[0]
        assert (left / "lease.json").is_file() and list((left / "kernels").glob("kernel-*.json"))  # inside, not loose
        manifest = json.loads((store / "runs" / "killed" / "manifest.json").read_text())
        assert manifest["status"] == "running" and manifest["lease"]["lease_s"] == 20

        refused = cli("run", "--data", str(labelled_csv), "--store", str(store), "--run-id", "killed", env=env)
        assert refused.returncode == 2 and "run killed is already running" in refused.stderr, refused.stderr

        time.sleep(max(0, (left / "lease.json").stat().st_mtime + 21 - time.time()))  # the lease lapses
        retry = cli(
            "run", "--data", str(labelled_csv), "--store", str(store), "--run-id", "killed", *as_args(TINY), env=env
        )
        assert retry.returncode == 0, retry.stderr[-3000:]
        warnings = [line for line in retry.stderr.splitlines() if line.startswith("warning:")]
        assert len(warnings) == 1 and "run killed was left 'running' by a process that stopped" in warnings[0]
        assert f"removed 1 temp folder(s) of runs that died: {leftovers[0]}" in retry.stderr
        # nothing of either run: no temp folder, no kernel connection file (jupyter_client's default: tmp*.json)
        assert not [p.name for p in scratch.iterdir() if p.name.startswith("sentiment-run-") or p.suffix == ".json"]
        assert json.loads((store / "runs" / "killed" / "manifest.json").read_text())["status"] == "succeeded"
    finally:
        _kill(process)
