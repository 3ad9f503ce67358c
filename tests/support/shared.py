"""What one test session makes once and its parallel workers share (pytest-xdist runs ``make test`` on several
processes, and a session-scoped fixture would otherwise be made again in every one of them)."""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def worker_id() -> str:
    """``gw0``, ``gw1`` ... in a pytest-xdist worker, ``main`` in a session without workers."""
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def session_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The temporary folder of the whole test run: every xdist worker's own base folder is inside it."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if "PYTEST_XDIST_WORKER" in os.environ else base


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (created if missing) across processes; released when the block ends."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


RUN_TMP_ENV = "SENTIMENT_TESTS_RUN_TMP"  # set by tests/conftest.py in each worker: session_root()


@contextmanager
def run_lock(name: str) -> Iterator[None]:
    """A lock shared by the xdist workers of this test run (nothing to lock in a run without workers)."""
    if "PYTEST_XDIST_WORKER" not in os.environ or RUN_TMP_ENV not in os.environ:
        yield
        return
    with file_lock(Path(os.environ[RUN_TMP_ENV]) / f"{name}.lock"):
        yield


def made_once(tmp_path_factory: pytest.TempPathFactory, name: str, make: Callable[[Path], None]) -> Path:
    """``<run's temp>/shared-<name>/``, filled by ``make(folder)`` in the first worker that asks; the others wait for
    it and get the same folder (read it only). A ``make`` that failed is tried again by the next worker that asks."""
    root = session_root(tmp_path_factory)
    folder = root / f"shared-{name}"
    with file_lock(root / f"shared-{name}.lock"):
        if not (folder / ".made").is_file():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            make(folder)
            (folder / ".made").touch()
    return folder
