"""Peak memory per step (the manifest's ``<step>_peak_mb``): the runner's own peak, reset between steps, plus its
children's, even a child that ends between two samples. Each case runs in a fresh interpreter, whose children's
high-water mark starts from nothing."""

import json
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="high-water marks are read from /proc")

MB = 1024 * 1024


def _measure(body: str) -> dict:
    script = (
        textwrap.dedent(
            """
        import json, subprocess, sys
        from sentiment_pipeline.training.memory import StepPeak
        peaks = {}
        """
        )
        + textwrap.dedent(body)
        + "\nprint(json.dumps(peaks))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_step_counts_the_process_it_started():
    peaks = _measure(
        """
        with StepPeak() as quiet:
            pass
        with StepPeak() as step:  # a kernel-like child holding 400 MB for a second
            subprocess.run([sys.executable, "-c", "import time; b = bytearray(400 * 2**20); time.sleep(1)"], check=True)
        peaks.update(quiet=quiet.mb, step=step.mb)
        """
    )
    assert peaks["step"] >= peaks["quiet"] + 380


def test_a_child_that_ends_between_two_samples_is_still_counted():
    peaks = _measure(
        """
        with StepPeak() as step:
            subprocess.run([sys.executable, "-c", "b = bytearray(500 * 2**20)"], check=True)
        peaks.update(step=step.mb)
        """
    )
    assert peaks["step"] >= 480


def test_each_step_starts_from_the_runner_s_memory_of_the_time_not_its_past_peak():
    peaks = _measure(
        """
        with StepPeak() as first:
            block = bytearray(600 * 2**20)
            del block
        with StepPeak() as second:
            pass
        peaks.update(first=first.mb, second=second.mb)
        """
    )
    assert peaks["first"] >= 600
    assert peaks["second"] <= peaks["first"] - 500
