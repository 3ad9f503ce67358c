"""Sweep benchmark: the same 4-point sweep on the full data with ``--parallel 1`` and ``--parallel 2``, one after the
other in one run, and on paper the same sweep on ECS.

    .venv/bin/python benchmarks/sweep_bench.py --data FULL.csv --out benchmarks/sweep-results.md

Each configuration runs ``sentiment-pipeline sweep`` into a fresh temporary store (so no point is kept from the
other) and records its wall time and each point's own time (``duration_s`` in sweep.json, the point's process from
start to end). ECS runs every point as its own Fargate task at once (the DAG's cap is 8), so its wall time is about
the slowest point's time on one task plus a task's start-up (image pull, ENI; about a minute) and the ranking task.
Let nothing else run meanwhile. Prints Markdown.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_report import publish

BIN = Path(sys.executable).parent
GRID = ("lstm_units=32,64", "dropout=0.2,0.4")
FIXED = ("ensemble_size=1",)  # one member per point: four full-data points stay within minutes on two cores
ECS_START_S = 60  # a Fargate task's start-up before the container runs (image pull from ECR, ENI): about a minute


def run_sweep(data: str, parallel: int, folder: Path) -> dict:
    command = [str(BIN / "sentiment-pipeline"), "sweep", "--data", data, "--store", str(folder / "store")]
    command += [arg for pair in GRID for arg in ("--grid", pair)] + [arg for pair in FIXED for arg in ("-p", pair)]
    command += ["--parallel", str(parallel), "--sweep-id", f"bench-parallel-{parallel}"]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - started
    print(done.stderr, file=sys.stderr)
    if done.returncode != 0:
        raise SystemExit(f"sweep --parallel {parallel} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    document = json.loads(Path(summary["json"]).read_text())
    return {"parallel": parallel, "wall_s": wall, "document": document}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", required=True)
    parser.add_argument("--out")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="sweep-bench-") as tmp:
        for parallel in (1, 2):
            folder = Path(tmp) / f"parallel-{parallel}"
            folder.mkdir()
            results.append(run_sweep(args.data, parallel, folder))

    command = f"python benchmarks/sweep_bench.py --data {args.data}" + (f" --out {args.out}" if args.out else "")
    lines = [
        "# Sweep benchmark",
        "",
        f"Produced by `make bench-sweep` (`{command}`) on {time.strftime('%Y-%m-%d')}: "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, nothing else running. The sweep: "
        f"`--grid {' --grid '.join(GRID)} -p {' -p '.join(FIXED)}` on `{Path(args.data).name}` (4 points, each a "
        "full-data run with its defaults otherwise), into a fresh store each time.",
        "",
        "| `--parallel` | sweep wall time | points' own times (s) | sum of the points' times |",
        "|---|---|---|---|",
    ]
    for result in results:
        own = [p["duration_s"] for p in result["document"]["points"]]
        lines.append(
            f"| {result['parallel']} | {result['wall_s']:.0f} s | {', '.join(f'{s:.0f}' for s in own)} | "
            f"{sum(own):.0f} s |"
        )
    one, two = results
    slowest_alone = max(p["duration_s"] for p in one["document"]["points"])
    # one at a time, what is not a point's own time is the plan, the ranking and the report
    ranking = max(0.0, one["wall_s"] - sum(p["duration_s"] for p in one["document"]["points"]))
    ecs = slowest_alone + ECS_START_S + ranking + ECS_START_S
    best = {r["parallel"]: r["document"]["best"] for r in results}
    lines += [
        "",
        f"- **Two at once on two cores**: {two['wall_s']:.0f} s against {one['wall_s']:.0f} s one at a time "
        f"({one['wall_s'] / two['wall_s']:.2f}x faster). Each point takes longer when two share the cores (mean "
        f"{_mean(two):.0f} s against {_mean(one):.0f} s), but one run alone leaves the cores idle part of the time "
        "(data loading, notebook start-up, the ONNX export, reports): the default `--parallel` is one point per core.",
        f"- **On ECS, on paper**: every point a Fargate task of its own at once (2 vCPU each, as the training task "
        f"definition): about the slowest point alone ({slowest_alone:.0f} s) + a task's start-up (~{ECS_START_S} s) "
        f"+ the ranking task (~{ranking:.0f} s + ~{ECS_START_S} s start-up) = **about {ecs:.0f} s**, against "
        f"{one['wall_s']:.0f} s for the same points one after another here. Sixteen points are two rounds of 8 (the "
        f"DAG's default cap): about {2 * (slowest_alone + ECS_START_S) + ranking + ECS_START_S:.0f} s, where one "
        f"machine like this one would take about {4 * two['wall_s']:.0f} s.",
        f"- The best point: {best[1]} with `--parallel 1`, {best[2]} with `--parallel 2` (the same grid, seeded: "
        "the same models).",
    ]
    publish(lines, args.out)


def _mean(result: dict) -> float:
    points = result["document"]["points"]
    return sum(p["duration_s"] for p in points) / len(points)


if __name__ == "__main__":
    main()
