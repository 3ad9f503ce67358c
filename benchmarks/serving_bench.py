"""Serving benchmark: `bentoml serve` (compiled function + adaptive batching) vs a seed-style server.

    .venv/bin/python benchmarks/serving_bench.py --store artifacts [--run-id latest] [--seconds 15]

Both servers run the same model on loopback, one at a time; wrk (benchmarks/wrk_post.lua) drives /predict
at 1, 8 and 32 concurrent clients, then /predict_batch (256 texts per request). Prints Markdown.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pandas as pd
from bench_report import publish

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[1]
WRK_SCRIPT = ROOT / "benchmarks" / "wrk_post.lua"
WRK = shutil.which("wrk") or "wrk"  # Debian package `wrk` (scripts/install-system-deps.sh)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(command: list[str], env: dict, ready_url: str) -> subprocess.Popen:
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 180
    while time.time() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited: {' '.join(command)}")
        try:
            if httpx.get(ready_url, timeout=2).status_code < 500:
                return process
        except httpx.HTTPError:
            time.sleep(0.5)
    raise SystemExit(f"server not ready: {' '.join(command)}")


def stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=60)


def load(url: str, bodies: list[dict], clients: int, seconds: float) -> dict:
    """Closed-loop load from wrk (a separate C process, so the client costs the 2 cores little)."""
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl") as file:
        file.write("\n".join(json.dumps(body) for body in bodies))
        file.flush()
        httpx.post(url, json=bodies[0], timeout=60).raise_for_status()  # warm-up: first call compiles
        result = subprocess.run(
            [WRK, f"-t{min(clients, 2)}", f"-c{clients}", f"-d{seconds:.0f}s", "--timeout", "30s"]
            + ["-s", str(WRK_SCRIPT), url],
            env={**os.environ, "WRK_BODIES": file.name},
            capture_output=True,
            text=True,
            check=True,
        )
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    return {
        "requests": summary["requests"],
        "rps": summary["requests"] / (summary["duration_us"] / 1e6),
        "p50_ms": summary["p50_us"] / 1000,
        "p99_ms": summary["p99_us"] / 1000,
        "errors": summary["errors"] + summary["non_2xx"],
        "error_kinds": f"{summary['errors']} socket, {summary['non_2xx']} non-2xx",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--store", default="artifacts")
    parser.add_argument("--run-id", default="latest")
    parser.add_argument("--seconds", type=float, default=15.0, help="per concurrency level")
    parser.add_argument("--out")
    args = parser.parse_args()

    from sentiment_pipeline.records import record
    from sentiment_pipeline.records.store import open_store

    store = open_store(args.store)
    run_id = record.resolve_run_id(store, args.run_id)
    levels = (1, 8, 32)
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = record.download_model(store, run_id, Path(tmp) / "model")
        texts = list(
            pd.read_csv(store.uri_for(record.run_key(run_id, "data/test.csv")), dtype=str, keep_default_na=False)[
                "text"
            ][:2000]
        )
        bodies = [{"text": t} for t in texts]
        env = {"BENTOML_HOME": str(Path(tmp) / "bentoml"), "BENTOML_DO_NOT_TRACK": "true"}
        tag = json.loads(
            subprocess.run(
                [str(BIN / "sentiment-pipeline"), "register", "--store", args.store, "--run-id", run_id],
                env={**os.environ, **env},
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )["tag"]

        port = free_port()
        seed = start(
            [str(BIN / "uvicorn"), "benchmarks.seed_server:app", "--port", str(port), "--log-level", "warning"],
            {"MODEL_DIR": str(model_dir), "TF_CPP_MIN_LOG_LEVEL": "3"},
            f"http://127.0.0.1:{port}/docs",
        )
        try:
            for clients in levels:
                results[f"seed/{clients}"] = load(f"http://127.0.0.1:{port}/predict", bodies, clients, args.seconds)
                print("seed-style", clients, results[f"seed/{clients}"], file=sys.stderr)
        finally:
            stop(seed)

        port = free_port()
        bento = start(
            [str(BIN / "bentoml"), "serve", "service:TweetSentiment", "--host", "127.0.0.1", "--port", str(port)],
            {**env, "SENTIMENT_MODEL_TAG": tag},
            f"http://127.0.0.1:{port}/readyz",
        )
        try:
            for clients in levels:
                results[f"bento/{clients}"] = load(f"http://127.0.0.1:{port}/predict", bodies, clients, args.seconds)
                print("bentoml", clients, results[f"bento/{clients}"], file=sys.stderr)
            cycled = (texts * (1 + 2560 // len(texts)))[:2560]  # ten distinct batches even from a small split
            batches = [{"texts": cycled[i : i + 256]} for i in range(0, 2560, 256)]
            batch = load(f"http://127.0.0.1:{port}/predict_batch", batches, 4, args.seconds)
        finally:
            stop(bento)

    lines = [
        "# Serving benchmark",
        "",
        f"Produced by `make bench-serving` (`.venv/bin/python benchmarks/serving_bench.py --store {args.store}`) "
        f"on {time.strftime('%Y-%m-%d')}; model `{tag}`, {os.cpu_count()} cores, loopback, closed-loop wrk clients, "
        f"{args.seconds:.0f} s per level, texts from the run's held-out test split.",
        "",
        "| /predict | clients | requests/s | p50 ms | p99 ms | errors |",
        "|---|---|---|---|---|---|",
    ]
    for name, key in (
        ("seed style: FastAPI + `model.predict` per request", "seed"),
        ("`bentoml serve`: compiled function + adaptive batching", "bento"),
    ):
        for clients in levels:
            r = results[f"{key}/{clients}"]
            lines.append(
                f"| {name} | {clients} | {r['rps']:.1f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
                f"{r['errors']} of {r['requests']} |"
            )
    speedup = results["bento/32"]["rps"] / results["seed/32"]["rps"]
    lines += [
        "",
        f"Throughput at 32 clients: **{speedup:.1f}x** the seed-style server.",
        "",
        f"`/predict_batch`, 256 texts per request, 4 clients: **{batch['rps'] * 256:,.0f} texts/s** "
        f"(p50 {batch['p50_ms']:.0f} ms, p99 {batch['p99_ms']:.0f} ms per request, {batch['errors']} errors).",
    ]
    publish(lines, args.out)


if __name__ == "__main__":
    main()
