"""TensorFlow and Keras, imported once for the whole package, without their start-up notices.

TensorFlow's C++ libraries write absl/oneDNN notices ("All log messages before absl::InitializeLog() ...",
"oneDNN custom operations are on ...") straight to file descriptor 2 while they load, before any log level
applies, so ``TF_CPP_MIN_LOG_LEVEL`` cannot stop them; they ended up in every executed notebook and CLI call.
Descriptor 2 points at /dev/null only for the import; a failing import still raises its Python exception.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # the Python-side and later C++ info logs


@contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    if "tensorflow" in sys.modules:  # already loaded: nothing left to print
        yield
        return
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


with _native_stderr_silenced():
    import keras
    import tensorflow as tf

# Each ensemble member gets its own Keras predict function, which TensorFlow's retracing counter (shared by all
# functions) reports as "excessive retracing" from the third member on: expected here, and noise in a report.
logging.getLogger("tensorflow").addFilter(lambda record: "triggered tf.function retracing" not in record.getMessage())

__all__ = ["keras", "tf"]
