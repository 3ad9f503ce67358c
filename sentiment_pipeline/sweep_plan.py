"""A sweep's plan: the grid checked against the parameter table, its points and their run ids and commands.

Shared by ``sentiment-pipeline sweep`` (training/sweep.py runs and ranks the points) and the ``sentiment_sweep`` DAG
(deploy/, which maps one task per point), so it needs nothing beyond the parameter table and the record's names.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import ParamError
from .params import parse_overrides, resolve
from .records import record

MAX_POINTS = 64  # more is a search, not a sweep: refused before anything runs
# A sweep's points are scored on the same texts, so they share their split: these stay as the fixed parameters say.
SPLIT_PARAMETERS = ("split_seed", "val_size", "test_size")


@dataclass(frozen=True)
class SweepPlan:
    """A checked sweep: its id, the grid (parameter -> values, in the given order), the fixed overrides and the
    points (each the swept values only; ``overrides(point)`` adds the fixed ones)."""

    sweep_id: str
    grid: dict[str, list[Any]]
    fixed: dict[str, Any]
    points: list[dict[str, Any]]

    def overrides(self, point: Mapping[str, Any]) -> dict[str, Any]:
        return {**self.fixed, **point}

    def run_id(self, index: int) -> str:
        return record.sweep_point_id(self.sweep_id, index + 1)


def parse_grid(pairs: Sequence[str]) -> dict[str, list[Any]]:
    """``["lstm_units=16,32", "stemmer=none,porter"]`` -> typed values per parameter (repeats dropped); an unknown
    parameter, a value of the wrong type, a parameter given twice or a split parameter is a ParamError."""
    grid: dict[str, list[Any]] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ParamError(f"--grid {pair!r} is not key=value1,value2,...")
        if name in grid:
            raise ParamError(f"--grid {name} is given twice: list all its values in one --grid {name}=v1,v2")
        if name in SPLIT_PARAMETERS:
            raise ParamError(
                f"--grid {name}: a sweep's points share their split so that they are scored on the same texts; "
                f"set {name} once with -p {name}=..."
            )
        texts = [value.strip() for value in raw.split(",") if value.strip()]
        if not texts:
            raise ParamError(f"--grid {name} has no values")
        values = [parse_overrides([f"{name}={value}"])[name] for value in texts]
        grid[name] = list(dict.fromkeys(values))  # in the given order, each once
    if not grid:
        raise ParamError("a sweep needs at least one --grid parameter=value1,value2")
    return grid


def plan_sweep(grid_pairs: Sequence[str], param_pairs: Sequence[str], sweep_id: str | None = None) -> SweepPlan:
    """Check the whole sweep before anything runs: the grid, the fixed parameters, the number of points and every
    point's full set of parameters (each resolved as its run will resolve it)."""
    grid = parse_grid(grid_pairs)
    fixed = parse_overrides(param_pairs)
    both = sorted(set(grid) & set(fixed))
    if both:
        raise ParamError(f"{both[0]} is both swept (--grid) and fixed (-p): choose one")
    n = math.prod(len(values) for values in grid.values())
    if n > MAX_POINTS:
        sizes = " x ".join(f"{len(values)} {name}" for name, values in grid.items())
        raise ParamError(f"the grid has {n} points ({sizes}); a sweep runs at most {MAX_POINTS}")
    points = [dict(zip(grid, combination, strict=True)) for combination in itertools.product(*grid.values())]
    for point in points:
        try:
            resolve({**fixed, **point})
        except ParamError as exc:
            where = ", ".join(f"{k}={v}" for k, v in point.items())
            raise ParamError(f"point {where}: {exc}") from None
    return SweepPlan(record.check_run_id(sweep_id or record.new_run_id()), grid, fixed, points)


def default_parallel(n_points: int, cores: int | None = None) -> int:
    """Points at once on one machine: one per core (benchmarks/sweep-results.md: on two cores, four full-data points
    two at a time finished 1.4-1.6x sooner than one at a time), at least one, at most the points."""
    return max(1, min(n_points, cores or os.cpu_count() or 1))


def point_command(
    plan: SweepPlan, index: int, data_uri: str, store_uri: str, eval_data_uri: str | None = None
) -> list[str]:
    """``sentiment-pipeline run`` of the ``index``-th point (0-based), as the sweep's process or an ECS task runs it."""
    overrides = plan.overrides(plan.points[index])
    command = ["sentiment-pipeline", "run", "--data", data_uri, "--store", store_uri]
    command += ["--run-id", plan.run_id(index), "--sweep-id", plan.sweep_id]
    command += [arg for name, value in overrides.items() for arg in ("-p", f"{name}={value_text(value)}")]
    return command + (["--eval-data", eval_data_uri] if eval_data_uri else [])


def value_text(value: Any) -> str:
    """A parameter value as a command line and a reader write it (``true``, not ``True``)."""
    return str(value).lower() if isinstance(value, bool) else str(value)
