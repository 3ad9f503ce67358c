"""The checkout, its environment and its CLI, as the tests use them."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"  # the one source; the wheel carries them as sentiment_pipeline/notebooks/
BIN = Path(sys.executable).parent
# The labelled tweets tests carve their data from: ../shared beside the checkout here; GitHub CI fetches the
# file from the data bucket and names it in SENTIMENT_PIPELINE_TEST_DATA (.github/workflows/ci.yml).
SHARED_DATA = Path(
    os.environ.get("SENTIMENT_PIPELINE_TEST_DATA")
    or ROOT.parent / "shared" / "data" / "tweet_sentiment_extraction" / "train.csv"
)
# A small model that still learns on 480 training tweets in ~20 s (two members, so averaging is exercised).
FAST_PARAMS = {
    "epochs": 4,
    "learning_rate": 0.01,
    "embedding_dim": 32,
    "lstm_units": 16,
    "ngram_dim": 16,
    "char_dim": 16,
    "batch_size": 32,
    "ensemble_size": 2,
    "min_count": 1,
    "teacher": "none",  # the teacher's own tests: FIRST_RUN (real tweets) and tests/training/test_teacher.py
}
# The smallest model that still trains (one member, one epoch): for tests that need a run, not a good model.
TINY = {
    "epochs": 1,
    "ensemble_size": 1,
    "embedding_dim": 16,
    "lstm_units": 8,
    "ngram_dim": 8,
    "char_dim": 8,
    "min_count": 1,
    "batch_size": 32,
    "teacher": "none",
}


def as_args(params: dict) -> list[str]:
    """``-p name=value`` arguments of ``sentiment-pipeline run``."""
    return [arg for name, value in params.items() for arg in ("-p", f"{name}={value}")]


FAST = as_args(FAST_PARAMS)
# The shared run on real tweets (conftest's first_run): the FAST model distilled from a MiniLM teacher fine-tuned on the
# same 480 tweets (one epoch of 15 steps: it learns little, but every part of distillation runs and is recorded).
FIRST_RUN = as_args({**FAST_PARAMS, "teacher": "minilm", "teacher_max_len": 32})

# The thread settings the tests' processes compute with (conftest.py sets them to 1 unless already set).
ONE_THREAD = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS",
)

SAMPLE_RUN_ID = "sample-run"  # the shared run on the synthetic sample (conftest.py's sample_run)


def constraint(name: str) -> str:
    """The version constraints.txt pins ``name`` to (a trailing comment ignored)."""
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.lower().startswith(f"{name.lower()}=="):
            return line.split("==", 1)[1].split()[0]
    raise AssertionError(f"{name} is not pinned in constraints.txt")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, what: str, timeout: float = 30) -> None:
    """Return once something accepts connections on 127.0.0.1:``port``; AssertionError naming ``what`` if not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{what} did not start on port {port} within {timeout:.0f} s")


def cli(*args: str, env: dict | None = None, check: bool = False, stdin: str | None = None):
    """Run the installed ``sentiment-pipeline`` command the way a user does."""
    result = subprocess.run(
        [str(BIN / "sentiment-pipeline"), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        input=stdin,
        timeout=600,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr[-4000:]}")
    return result


def in_fresh_interpreter(code: str, blocked: Iterable[str] = (), env: dict | None = None) -> dict:
    """Run ``code`` in a new Python where the ``blocked`` top-level packages cannot be imported, as in an image
    without them; the code prints one JSON line last, returned here.

    An import hook raises ModuleNotFoundError for them; ``sys.modules[name] = None`` would break libraries that
    look in sys.modules to see whether a package is loaded (BentoML's LazyType does, for pandas).
    """
    prelude = (
        "import sys\n"
        "class _Blocked:\n"
        f"    names = {sorted(blocked)!r}\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in self.names:\n"
        "            raise ModuleNotFoundError(f'{name} is blocked: the image does not install it', name=name)\n"
        "sys.meta_path.insert(0, _Blocked())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", prelude + code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])
