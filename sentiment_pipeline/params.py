"""Run parameters, in one place: each one's default, type, allowed range, meaning, the notebooks that take it and
whether the DAG's form offers it. ``-p key=value`` parsing, range checks, the DAG form's JSON schema, the
notebooks' ``parameters`` cells (checked by a test) and the README table (checked by a test) all follow
``PARAMETERS``. Adding a hyper-parameter: one line here (plus its use in the code and a row in the README table).

Every parameter a run uses ends up in ``params.json``; notebooks receive only those their
``parameters`` cell declares. No TensorFlow here: the CLI and the Airflow DAG import this cheaply.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from .errors import ParamError
from .inference.cleaning import STEMMERS

PREPROCESS, TRAIN = "preprocess", "train"  # the pipeline's notebooks (notebook_execution.PIPELINE_NOTEBOOKS)
# The distillation teachers (training/teacher.py): "none" trains the LSTM members on the true labels alone.
TEACHERS = ("none", "minilm")
MONITOR = "monitor"  # `sentiment-pipeline monitor`'s notebook: checks of a served model's captured answers
# The quality gate's default margin (`gate --margin`, the DAG form's gate_margin): how far below the deployed model
# the lower bound of the interval of candidate - deployed macro-F1 may reach (training/quality_gate.py).
GATE_MARGIN = 0.005


@dataclass(frozen=True)
class Parameter:
    """One run parameter; its type is its default's type."""

    name: str
    default: bool | int | float | str
    help: str
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False
    choices: tuple[str, ...] | None = None
    notebooks: tuple[str, ...] = (TRAIN,)
    on_form: bool = False  # a field of the Airflow DAG's form (the rest go through its `extra_params`)

    @property
    def kind(self) -> type:
        return type(self.default)

    def schema(self) -> dict[str, Any]:
        """JSON schema of the value (the DAG form's ``Param`` keywords)."""
        kind = {bool: "boolean", int: "integer", float: "number", str: "string"}[self.kind]
        schema: dict[str, Any] = {"type": kind, "description": self.help}
        if self.minimum is not None:
            schema["exclusiveMinimum" if self.exclusive_minimum else "minimum"] = self.minimum
        if self.maximum is not None:
            schema["exclusiveMaximum" if self.exclusive_maximum else "maximum"] = self.maximum
        if self.choices:
            schema["enum"] = list(self.choices)
        return schema

    def check(self, value: Any) -> None:
        """Raise ParamError unless ``value`` has this parameter's type and lies in its range."""
        if self.kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if type(value) is not self.kind:
            raise ParamError(f"parameter {self.name}: {value!r} is not a {self.kind.__name__}")
        if self.choices and value not in self.choices:
            raise ParamError(f"parameter {self.name} must be one of {', '.join(self.choices)}, got {value!r}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ParamError(f"parameter {self.name} must be a finite number, got {value}")
        low_ok = self.minimum is None or (value > self.minimum if self.exclusive_minimum else value >= self.minimum)
        high_ok = self.maximum is None or (value < self.maximum if self.exclusive_maximum else value <= self.maximum)
        if not (low_ok and high_ok):
            raise ParamError(f"parameter {self.name} must be in {self.range_text()}, got {value}")

    def range_text(self) -> str:
        low = "(" if self.exclusive_minimum else "["
        high = ")" if self.exclusive_maximum else "]"
        return f"{low}{_number(self.minimum)}, {_number(self.maximum)}{high}"


def _number(value: float | None) -> str:
    if value is None:
        return "∞"
    return f"{int(value):,}".replace(",", "_") if float(value).is_integer() and abs(value) >= 1 else str(value)


BOTH = (PREPROCESS, TRAIN)
PARAMETERS: tuple[Parameter, ...] = (
    # data split (preprocess notebook)
    Parameter(
        "val_size", 0.1, "stratified validation fraction", 0, 0.5, exclusive_minimum=True, notebooks=(PREPROCESS,)
    ),
    Parameter(
        "test_size", 0.1, "stratified held-out test fraction", 0, 0.5, exclusive_minimum=True, notebooks=(PREPROCESS,)
    ),
    # Apart from `seed`, so runs that differ only in `seed` are scored on the same test split (the noise floor).
    Parameter("split_seed", 42, "which tweets go to validation and test", 0, 2**31 - 1, notebooks=(PREPROCESS,)),
    # text handling
    Parameter("stemmer", "none", "word stemming", choices=STEMMERS, notebooks=BOTH, on_form=True),
    Parameter(
        "remove_stop_words", False, "drop stop words (negations are never removed)", notebooks=BOTH, on_form=True
    ),
    Parameter("max_len", 40, "tokens per tweet the model reads", 1, 512, on_form=True),
    Parameter("max_words", 20_000, "word vocabulary limit", 1, 10_000_000),
    Parameter("max_ngrams", 60_000, "word n-gram vocabulary limit", 1, 10_000_000),
    Parameter("max_chargrams", 50_000, "character n-gram vocabulary limit", 1, 10_000_000),
    Parameter("min_count", 2, "fewest occurrences for a vocabulary entry", 1, 1_000_000, on_form=True),
    # model size
    Parameter("embedding_dim", 128, "word embedding size", 1, 1024, on_form=True),
    Parameter("lstm_units", 64, "BiLSTM units per direction", 1, 1024, on_form=True),
    Parameter("ngram_dim", 32, "word-bigram bag embedding size (0: branch off)", 0, 1024, on_form=True),
    Parameter("char_dim", 32, "character n-gram bag embedding size (0: branch off)", 0, 1024, on_form=True),
    # regularisation
    Parameter("spatial_dropout", 0.3, "dropout of whole embedding channels", 0, 1, exclusive_maximum=True),
    Parameter("dropout", 0.4, "dropout before the output layer", 0, 1, exclusive_maximum=True),
    # training
    Parameter("seed", 42, "weight initialisation, shuffling and the baseline", 0, 2**31 - 1, on_form=True),
    Parameter("learning_rate", 0.002, "Adam learning rate", 0, 1, exclusive_minimum=True, on_form=True),
    Parameter("batch_size", 64, "examples per gradient step", 1, 4096, on_form=True),
    # On the full data with true labels alone a 3rd epoch never beat the 2nd on validation; learning from the teacher's
    # labels, most members keep the 3rd (benchmarks/model-results.md lists the epoch each member kept).
    Parameter("epochs", 3, "most epochs per member; the best validation-macro-F1 epoch is kept", 1, 100, on_form=True),
    Parameter("patience", 1, "epochs without a better validation macro-F1 before a member stops", 0, 100),
    Parameter(
        "ensemble_size", 4, "members (seeds seed, seed+1, ...) averaged into the saved model", 1, 10, on_form=True
    ),
    # distillation: a fine-tuned MiniLM teaches the members, then is dropped (training/teacher.py)
    # On by default: +0.018 and +0.013 macro-F1 on the own test split at two seeds, both intervals above zero, for
    # about 10 more minutes of a full-data run (benchmarks/model-results.md). teacher=none: the earlier model.
    Parameter(
        "teacher", "minilm", "model whose soft labels the members also learn from", choices=TEACHERS, on_form=True
    ),
    Parameter("distill_mix", 0.8, "weight of the teacher's labels against the true ones in the members' targets", 0, 1),
    Parameter(
        "distill_temperature", 1.0, "softens (>1) or sharpens (<1) the teacher's labels", 0, 10, exclusive_minimum=True
    ),
    Parameter("teacher_epochs", 1, "most fine-tuning epochs of the teacher; the best validation epoch is kept", 1, 10),
    Parameter("teacher_learning_rate", 5e-5, "AdamW learning rate of the teacher's body", 0, 1, exclusive_minimum=True),
    Parameter("teacher_batch_size", 32, "texts per teacher step", 1, 1024),
    Parameter("teacher_max_len", 64, "word pieces per tweet the teacher reads", 8, 512),
)
# `sentiment-pipeline monitor -p key=value`: the checks' thresholds (docs/monitoring.md), recorded in the monitoring
# record and shown in its report's header. Not run parameters: a run never takes them, params.json never holds them.
MONITOR_PARAMETERS: tuple[Parameter, ...] = (
    Parameter(
        "min_texts",
        100,
        "fewest captured texts a report is made on (fewer: refused, exit 2)",
        10,
        10**7,
        notebooks=(MONITOR,),
    ),
    Parameter(
        "text_drift_auc_threshold",
        0.55,
        "text drift when the domain classifier's held-out ROC AUC is above this (with enough texts each side)",
        0.5,
        1,
        notebooks=(MONITOR,),
    ),
    Parameter(
        "min_texts_for_fixed_threshold",
        1000,
        "texts each side from which the fixed AUC threshold applies; below, a permutation null's 95th percentile",
        10,
        10**7,
        notebooks=(MONITOR,),
    ),
    Parameter("permutations", 100, "label shuffles of the permutation null", 10, 10_000, notebooks=(MONITOR,)),
    Parameter(
        "permutation_quantile",
        0.95,
        "below the fixed-threshold size, text drift when the AUC beats this quantile of the permutation null",
        0.5,
        1,
        exclusive_maximum=True,
        notebooks=(MONITOR,),
    ),
    Parameter(
        "prediction_js_threshold",
        0.1,
        "prediction drift at this Jensen-Shannon distance (base 2) of the label distributions or more",
        0,
        1,
        exclusive_minimum=True,
        notebooks=(MONITOR,),
    ),
    # The largest rise over 8,000 same-kind samples of 600 tweets was +0.029; TweetEval's tweets: +0.105
    # (benchmarks/monitoring-results.md).
    Parameter(
        "oov_rate_increase_threshold",
        0.05,
        "drift when the share of tokens the model does not know rises by this much (absolute) or more",
        0,
        1,
        exclusive_minimum=True,
        notebooks=(MONITOR,),
    ),
    Parameter(
        "drift_typical_texts",
        20,
        "captured texts most unlike the reference shown in the report",
        0,
        1000,
        notebooks=(MONITOR,),
    ),
    Parameter(
        "resamples", 2000, "bootstrap resamples of the live macro-F1 interval", 100, 100_000, notebooks=(MONITOR,)
    ),
    Parameter("monitor_seed", 0, "the checks' sampling, splits and shuffles", 0, 2**31 - 1, notebooks=(MONITOR,)),
)
BY_NAME: dict[str, Parameter] = {p.name: p for p in PARAMETERS}
MONITOR_BY_NAME: dict[str, Parameter] = {p.name: p for p in MONITOR_PARAMETERS}
MONITOR_DEFAULTS: dict[str, Any] = {p.name: p.default for p in MONITOR_PARAMETERS}
DEFAULTS: dict[str, Any] = {p.name: p.default for p in PARAMETERS}
FORM_PARAMETERS: tuple[str, ...] = tuple(p.name for p in PARAMETERS if p.on_form)


def notebook_parameters(notebook: str) -> dict[str, Any]:
    """The parameters (with their defaults) a notebook's ``parameters`` cell must declare."""
    return {p.name: p.default for p in (*PARAMETERS, *MONITOR_PARAMETERS) if notebook in p.notebooks}


@dataclass(frozen=True)
class ModelConfig:
    """Architecture and training settings (defaults from ``PARAMETERS``)."""

    embedding_dim: int = DEFAULTS["embedding_dim"]
    lstm_units: int = DEFAULTS["lstm_units"]
    ngram_dim: int = DEFAULTS["ngram_dim"]
    char_dim: int = DEFAULTS["char_dim"]
    spatial_dropout: float = DEFAULTS["spatial_dropout"]
    dropout: float = DEFAULTS["dropout"]
    learning_rate: float = DEFAULTS["learning_rate"]
    batch_size: int = DEFAULTS["batch_size"]
    epochs: int = DEFAULTS["epochs"]
    patience: int = DEFAULTS["patience"]
    ensemble_size: int = DEFAULTS["ensemble_size"]
    seed: int = DEFAULTS["seed"]

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> ModelConfig:
        """The config from any mapping holding the parameters (``params.json``'s, or a notebook's ``globals()``)."""
        return cls(**{f.name: params[f.name] for f in fields(cls) if f.name in params})

    def to_dict(self) -> dict:
        return asdict(self)


def _coerce(parameter: Parameter, raw: str) -> Any:
    try:
        if parameter.kind is bool:
            lowered = raw.strip().lower()
            if lowered in {"1", "true", "yes", "on"}:
                return True
            if lowered in {"0", "false", "no", "off"}:
                return False
            raise ValueError
        if parameter.kind is int:
            return int(raw)
        if parameter.kind is float:
            return float(raw)
    except ValueError:
        raise ParamError(f"parameter {parameter.name}: {raw!r} is not a valid {parameter.kind.__name__}") from None
    return raw


def parse_overrides(pairs: Iterable[str], table: Mapping[str, Parameter] = BY_NAME) -> dict[str, Any]:
    """``["epochs=2", "stemmer=porter"]`` -> typed values; unknown names are an error, not a typo to ignore."""
    overrides: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ParamError(f"parameter {pair!r} is not key=value")
        if name not in table:
            raise ParamError(f"unknown parameter {name!r}; known: {', '.join(sorted(table))}")
        overrides[name] = _coerce(table[name], raw)
    return overrides


def _checked(overrides: Mapping[str, Any] | None, table: Mapping[str, Parameter]) -> dict[str, Any]:
    """``table``'s defaults updated with overrides; every value checked against its parameter's type and range."""
    unknown = sorted(set(overrides or {}) - set(table))
    if unknown:
        raise ParamError(f"unknown parameter {unknown[0]!r}; known: {', '.join(sorted(table))}")
    params = {**{name: p.default for name, p in table.items()}, **(overrides or {})}
    for name, value in params.items():
        table[name].check(value)
        if table[name].kind is float:
            params[name] = float(value)
    return params


def resolve(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Defaults updated with overrides; every value checked against its parameter's type and range."""
    params = _checked(overrides, BY_NAME)
    if params["val_size"] + params["test_size"] > 0.5:
        raise ParamError(
            f"val_size + test_size must leave at least half the data for training, got "
            f"{params['val_size']} + {params['test_size']}"
        )
    json.dumps(params)  # everything must be recordable as-is
    return params


def resolve_monitor(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The monitoring checks' thresholds: defaults updated with overrides, each checked against its range."""
    return _checked(overrides, MONITOR_BY_NAME)
