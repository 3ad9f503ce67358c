"""Run parameters: defaults, ``-p key=value`` parsing with types, and who gets which.

Every parameter a run uses ends up in ``params.json``; notebooks receive only those their
``parameters`` cell declares. No TensorFlow here: the CLI and the Airflow DAG import this cheaply.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True)
class ModelConfig:
    """Architecture and training settings; every field is a notebook parameter."""

    embedding_dim: int = 128
    lstm_units: int = 64
    ngram_dim: int = 32  # 0 switches the bag-of-bigrams branch off
    char_dim: int = 32  # 0 switches the character n-gram branch off (both 0: a plain BiLSTM)
    spatial_dropout: float = 0.3
    dropout: float = 0.4
    learning_rate: float = 2e-3
    batch_size: int = 64
    # On the full data a 3rd epoch never beat the 2nd on validation; `make bench` lists the epoch each member kept.
    epochs: int = 2
    patience: int = 1
    ensemble_size: int = 4  # members averaged into the saved model; 1 gives a single BiLSTM
    seed: int = 42

    @classmethod
    def from_params(cls, params: dict) -> ModelConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in params.items() if k in names})

    def to_dict(self) -> dict:
        return asdict(self)


# Data split and text handling; model settings come from ModelConfig so there is one source of defaults.
DEFAULTS: dict[str, Any] = {
    "val_size": 0.1,
    "test_size": 0.1,
    "stemmer": "none",
    "remove_stop_words": False,
    "max_len": 40,
    "max_words": 20_000,
    "max_ngrams": 60_000,
    "max_chargrams": 50_000,
    "min_count": 2,
    **ModelConfig().to_dict(),
}


class ParamError(ValueError):
    """A parameter override that is unknown or of the wrong type."""


def _coerce(name: str, raw: str, default: Any) -> Any:
    try:
        if isinstance(default, bool):
            lowered = raw.strip().lower()
            if lowered in {"1", "true", "yes", "on"}:
                return True
            if lowered in {"0", "false", "no", "off"}:
                return False
            raise ValueError
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
    except ValueError:
        raise ParamError(f"parameter {name}: {raw!r} is not a valid {type(default).__name__}") from None
    return raw


def parse_overrides(pairs: Iterable[str]) -> dict[str, Any]:
    """``["epochs=2", "stemmer=porter"]`` -> typed values; unknown names are an error, not a typo to ignore."""
    overrides: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ParamError(f"parameter {pair!r} is not key=value")
        if name not in DEFAULTS:
            raise ParamError(f"unknown parameter {name!r}; known: {', '.join(sorted(DEFAULTS))}")
        overrides[name] = _coerce(name, raw, DEFAULTS[name])
    return overrides


def resolve(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Defaults updated with overrides, checked for sane ranges."""
    params = {**DEFAULTS, **(overrides or {})}
    for name in (
        "max_len",
        "max_words",
        "max_ngrams",
        "max_chargrams",
        "min_count",
        "embedding_dim",
        "lstm_units",
        "batch_size",
        "epochs",
    ):
        if int(params[name]) < 1:
            raise ParamError(f"parameter {name} must be at least 1, got {params[name]}")
    for name in ("ngram_dim", "char_dim"):
        if int(params[name]) < 0:
            raise ParamError(f"parameter {name} must be 0 (branch off) or more, got {params[name]}")
    for name in ("dropout", "spatial_dropout"):
        if not 0 <= float(params[name]) < 1:
            raise ParamError(f"parameter {name} must be in [0, 1), got {params[name]}")
    if params["stemmer"] not in {"none", "porter", "snowball"}:
        raise ParamError(f"parameter stemmer must be none, porter or snowball, got {params['stemmer']!r}")
    json.dumps(params)  # everything must be recordable as-is
    return params
