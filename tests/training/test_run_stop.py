"""SIGTERM during a run: raised where the run is in plain code; inside a notebook's event loop, noted and the kernel
ended, because asyncio drops an exception raised in its callbacks and the run would wait for the cell forever."""

import asyncio
import signal
import subprocess
import sys

import pytest

from sentiment_pipeline.errors import Terminated
from sentiment_pipeline.training.runner import _stoppable

SLEEP = "import time; time.sleep(60)"


def test_sigterm_in_plain_code_raises_terminated_there_and_the_handler_is_restored():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated) as stopped, _stoppable():
        signal.raise_signal(signal.SIGTERM)
        pytest.fail("the run went on after SIGTERM")
    assert stopped.value.signal_number == signal.SIGTERM
    assert "SIGTERM" in str(stopped.value)
    assert signal.getsignal(signal.SIGTERM) is before


def test_sigterm_in_an_event_loop_ends_the_kernels_only_and_the_next_check_raises():
    kernel = subprocess.Popen([sys.executable, "-c", SLEEP, "-m", "ipykernel_launcher"])  # what a kernel's argv holds
    bystander = subprocess.Popen([sys.executable, "-c", SLEEP])  # a child that is not a kernel
    try:
        with _stoppable() as stop:

            async def cell_in_flight() -> str:
                signal.raise_signal(signal.SIGTERM)  # nothing may be raised here: asyncio could drop it
                return "the loop went on"

            assert asyncio.run(cell_in_flight()) == "the loop went on"
            assert stop.signal_number == signal.SIGTERM
            assert kernel.wait(timeout=10) == -signal.SIGTERM
            assert bystander.poll() is None
            with pytest.raises(Terminated):
                stop.check()
    finally:
        for child in (kernel, bystander):
            child.kill()
            child.wait()


def test_without_a_signal_the_check_lets_the_run_go_on():
    with _stoppable() as stop:
        stop.check()
        assert stop.signal_number is None


HUNG_IN_THE_LOOP = """
import asyncio, sys, time
from sentiment_pipeline.records.store import LocalStore
from sentiment_pipeline.training import runner

runner.SIGTERM_GRACE_S = 2  # 25 s in a real run
run = runner._Run(LocalStore(sys.argv[1]), "hung-run", print)
run.step = "train"
with runner._stoppable(run):
    async def save_that_hangs():
        print("saving", flush=True)
        time.sleep(120)  # a store call that never returns, inside nbclient's loop: the handler cannot raise here

    asyncio.run(save_that_hangs())
print("the run went on", flush=True)
"""


def test_sigterm_ends_the_process_even_while_a_call_in_the_event_loop_hangs(tmp_path):
    """Where the handler may not raise (nbclient's loop) and the main thread waits on a store that does not answer,
    a watchdog ends the process SIGTERM_GRACE_S after the signal, with the run's one error line."""
    process = subprocess.Popen(
        [sys.executable, "-c", HUNG_IN_THE_LOOP, str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout.readline().strip() == "saving"
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert "the run went on" not in stdout
    assert stderr.strip().splitlines() == [
        "error: run hung-run failed in train: stopped by signal 15 (SIGTERM: the task was stopped); the store did not "
        "answer within 2 s, so the record may say 'running' until its lease lapses"
    ]
