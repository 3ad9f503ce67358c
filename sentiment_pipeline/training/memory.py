"""Peak resident memory of a run's steps, for the manifest's timings (``<step>_peak_mb``).

A step's peak is the runner's own peak during the step plus the peak of the processes it started meanwhile (the
notebook's kernel). Both are Linux high-water marks (``VmHWM``), so a spike between two samples is not missed, and
their sum is an upper bound on what the task's memory limit saw (ECS counts the whole task). The runner's mark is
reset at each step's start (``/proc/self/clear_refs``); a kernel lives for one step, so its mark is its step's.
A kernel's last moments are covered by ``RUSAGE_CHILDREN`` (the largest child reaped so far). Elsewhere than
Linux nothing is recorded.
"""

from __future__ import annotations

import ctypes
import gc
import resource
import sys
import threading
from pathlib import Path

SAMPLE_S = 0.25  # how often the started processes' high-water marks are read


def _hwm_kb(pid: int | str) -> int | None:
    """``VmHWM`` of a process in kB, or None (no /proc, or it has ended)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _children_kb() -> int:
    """The largest resident size of a child already waited for, in kB (Linux reports ru_maxrss in kB)."""
    return int(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)


class StepPeak:
    """Measures one step: ``with StepPeak() as peak: ...``, then ``peak.mb`` (None where it cannot be measured)."""

    def __init__(self) -> None:
        self.mb: float | None = None
        self._descendants_kb = 0
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="step memory", daemon=True)

    def __enter__(self) -> StepPeak:
        if not sys.platform.startswith("linux") or _hwm_kb("self") is None:
            return self
        try:  # "5" resets this process's peak RSS to its current RSS (Linux 4.0+)
            Path("/proc/self/clear_refs").write_text("5")
        except OSError:  # not allowed here: the mark then covers the process's life so far, still an upper bound
            pass
        self._children_before = _children_kb()
        self._thread.start()
        return self

    def _descendants_now_kb(self) -> int:
        import psutil

        total = 0
        try:
            children = psutil.Process().children(recursive=True)
        except psutil.Error:
            return 0
        for child in children:
            total += _hwm_kb(child.pid) or 0
        return total

    def _sample(self) -> None:
        while True:
            self._descendants_kb = max(self._descendants_kb, self._descendants_now_kb())
            if self._stopped.wait(SAMPLE_S):
                return

    def __exit__(self, *_exc) -> None:
        if not self._thread.is_alive():
            return
        self._stopped.set()
        self._thread.join()
        own = _hwm_kb("self") or 0
        reaped = _children_kb()  # a child that ended in this step after the last sample
        started = max(self._descendants_kb, reaped if reaped > self._children_before else 0)
        self.mb = round((own + started) / 1024, 1)


def release_memory() -> None:
    """Collect cyclic garbage now and hand freed heap back to the OS (glibc's ``malloc_trim``). tf2onnx's conversion
    leaves ~2 GB of graph copies in reference cycles that the collector reaches late, and glibc keeps what is freed:
    without this the kernel's resident memory stays at its conversion peak for the rest of the notebook."""
    gc.collect()
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):  # another C library (musl): the collection above is what there is
            pass
