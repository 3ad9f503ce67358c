"""Shared fixtures: small labelled data, a moto S3 server on loopback, a finished pipeline run; and the guard that
fails a session which wrote into the source tree. Helpers that tests import are in ``support/``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from support import schedule
from support.project import (
    BIN,
    FAST,
    FIRST_RUN,
    ONE_THREAD,
    ROOT,
    SAMPLE_RUN_ID,
    SHARED_DATA,
    cli,
    free_port,
    wait_for_port,
)
from support.shared import RUN_TMP_ENV, made_once, session_root

# ---- tests write only into temporary folders ------------------------------------------------------------------------
_CACHES = ("__pycache__", ".pytest_cache", ".ruff_cache")
_TREE_BEFORE = pytest.StashKey[set | None]()


def _source_tree_entries() -> set[str] | None:
    """What `git status` shows in the checkout (changed, untracked and ignored entries), caches aside."""
    try:
        out = subprocess.run(
            ["git", "status", "--porcelain", "--ignored=matching", "--untracked-files=normal"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None  # not a git checkout: nothing to compare
    return {line for line in out.splitlines() if not any(cache in line for cache in _CACHES)}


def _is_xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_sessionstart(session):
    # Compared once for the whole run: in the process that starts the xdist workers (or the only one). A worker that
    # finished early would otherwise see what a test still running in another worker has in the checkout for now.
    if not _is_xdist_worker(session.config):
        session.config.stash[_TREE_BEFORE] = _source_tree_entries()


def pytest_sessionfinish(session, exitstatus):
    """Fail the session if the tests left anything new in the source tree (they must use temporary folders)."""
    if _is_xdist_worker(session.config):
        return
    before = session.config.stash.get(_TREE_BEFORE, None)
    after = _source_tree_entries()
    if before is None or after is None:
        return
    new = sorted(after - before)
    if new:
        print("\nerror: the tests wrote into the source tree:\n  " + "\n  ".join(new), file=sys.stderr)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


# ---- parallel runs: `make test` runs the suite on pytest-xdist workers (support/schedule.py) ----------------------
# Several workers share two cores: a process that computes (TensorFlow, BLAS) with one thread leaves the other core to
# another test instead of spinning threads that wait for it (one comparison of whole runs: about 8 % less CPU).
# Inherited by every process the tests start (the CLI, notebook kernels, Airflow, servers) and passed to the ECS
# stand-in's containers (support/ecs_agent.py); an engineer's own setting wins.


def pytest_configure(config):
    for name in ONE_THREAD:
        os.environ.setdefault(name, "1")
    config.addinivalue_line("markers", "xdist_group(name): tests that run in one xdist worker, one after another")
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(schedule.LongestFirst(), "sentiment-pipeline-longest-first")
    if os.environ.get(schedule.RECORD_ENV) and not hasattr(config, "workerinput"):
        config.pluginmanager.register(schedule.Recorder(Path(os.environ[schedule.RECORD_ENV])))
    if os.environ.get(schedule.CPU_ENV):
        worker = getattr(config, "workerinput", {}).get("workerid", "main")
        config.pluginmanager.register(schedule.CpuRecorder(Path(os.environ[schedule.CPU_ENV]), worker))


@pytest.fixture(scope="session", autouse=True)
def _run_tmp(tmp_path_factory):
    """Where this run's workers keep what they share (support/shared.py: locks)."""
    os.environ[RUN_TMP_ENV] = str(session_root(tmp_path_factory))


@pytest.fixture(scope="session")
def labelled_csv(tmp_path_factory) -> Path:
    """600 real tweets (200 per class) carved from the shared training file, or the synthetic sample."""
    import pandas as pd

    if not SHARED_DATA.is_file():
        pytest.fail(
            f"labelled tweets not found at {SHARED_DATA}: "
            "put ../shared beside the checkout or set SENTIMENT_PIPELINE_TEST_DATA"
        )

    def make(folder: Path) -> None:  # one file for the whole test run: the shared runs record its path
        frame = pd.read_csv(SHARED_DATA, dtype=str, keep_default_na=False)
        sample = frame.groupby("label_text").sample(200, random_state=0).sample(frac=1, random_state=0)
        sample.to_csv(folder / "tweets.csv", index=False)

    return made_once(tmp_path_factory, "labelled-tweets", make) / "tweets.csv"


@pytest.fixture(scope="session")
def finished_run(first_run) -> tuple[Path, str]:
    """One real pipeline run (papermill, both notebooks, small model) shared by the read-only tests."""
    return first_run.store, first_run.run_id


@pytest.fixture(scope="session")
def first_run(tmp_path_factory, labelled_csv):
    """That run, with what its command printed (``stdout``, ``stderr``): the console a user sees. Made once for the
    whole test run (its xdist workers share it). Distilled from the MiniLM teacher (FIRST_RUN), so the record,
    reports, reproduction, comparison and registration tests all hold for a run with a teacher."""

    def make(folder: Path) -> None:
        store = folder / "store"
        args = ("--data", str(labelled_csv), "--store", str(store), "--run-id", "first-run", *FIRST_RUN)
        result = cli("run", *args, check=True)
        (folder / "console.json").write_text(json.dumps({"stdout": result.stdout, "stderr": result.stderr}))

    folder = made_once(tmp_path_factory, "first-run", make)
    console = json.loads((folder / "console.json").read_text())
    return SimpleNamespace(
        store=folder / "store",
        run_id=json.loads(console["stdout"])["run_id"],
        stdout=console["stdout"],
        stderr=console["stderr"],
    )


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory) -> Path:
    """One run on the synthetic sample (`sentiment-pipeline sample`) with the FAST model, shared by the serving
    tests (bentoml serve and the bento image) and made once for the whole test run: a store holding the succeeded
    run SAMPLE_RUN_ID. Read it only; copy it before writing (packaging adds the build context)."""

    def make(home: Path) -> None:
        data, store = home / "sample.csv", home / "runs"
        cli("sample", "--out", str(data), check=True)
        cli("run", "--data", str(data), "--store", str(store), "--run-id", SAMPLE_RUN_ID, *FAST, check=True)

    return made_once(tmp_path_factory, "sample-run", make) / "runs"


@pytest.fixture(scope="session")
def moto_server():
    """A real S3 API (moto server) on loopback, with credentials that only it accepts."""
    port = free_port()
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    process = subprocess.Popen(
        [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_for_port(port, "moto server")
    except AssertionError:
        process.kill()
        raise
    yield {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def aws_env(moto_server, monkeypatch):
    """Point boto3 in this process at the moto server."""
    for key, value in moto_server.items():
        monkeypatch.setenv(key, value)
    return moto_server
