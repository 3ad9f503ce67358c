"""Every exception the package raises on purpose, in one module.

``BadInput`` and its subclasses are things a user gave that cannot be used (a dataset, a parameter, a store, a
run id, configuration): the CLI prints their one-line message and exits 2. Anything else that escapes is a bug
and keeps its traceback (exit 1). Each class also derives from the built-in its callers caught before.
Light: the Airflow image and the bento import it.
"""

from __future__ import annotations


class PipelineError(Exception):
    """Base of the package's own errors."""


class BadInput(PipelineError):
    """Something the user gave cannot be used; the message names it in one line (CLI exit code 2)."""


class ParamError(BadInput, ValueError):
    """A parameter override that is unknown, of the wrong type or out of range."""


class DatasetError(BadInput, ValueError):
    """The dataset cannot be used; the message names the problem in one line."""


class TooFewTexts(DatasetError):
    """Too few captured texts to say whether what the served model sees has drifted (``monitor``)."""


class StoreError(BadInput, RuntimeError):
    """A store or data URI that cannot be read or written; the message says why in one line."""


class RunIdError(BadInput, ValueError):
    """A run id that is malformed or names no run."""


class ConfigError(BadInput, ValueError):
    """The pipeline configuration (Variable, environment or form) is missing something or malformed."""


class UsageError(BadInput, ValueError):
    """A command called without what it needs (e.g. ``predict`` with no texts)."""


class RunFailed(PipelineError, RuntimeError):
    """The run started and failed; its record says where and why."""

    def __init__(self, run_id: str, step: str, message: str) -> None:
        super().__init__(f"run {run_id} failed in {step}: {message}")
        self.run_id, self.step, self.message = run_id, step, message


class Terminated(BaseException):
    """SIGTERM (what ECS and Airflow send to stop a task) arrived during a run.

    A BaseException, like KeyboardInterrupt, so no ``except Exception`` in a library swallows it on its way to the
    runner, which records the run as failed."""

    def __init__(self, signal_number: int) -> None:
        super().__init__(f"stopped by signal {signal_number} (SIGTERM: the task was stopped)")
        self.signal_number = signal_number


class CommandFailed(PipelineError, RuntimeError):
    """A local pipeline command exited non-zero; the message carries its last output lines."""
