"""Serving benchmark: `bentoml serve` (compiled function + adaptive batching) vs a seed-style server.

    .venv/bin/python benchmarks/serving_bench.py --store artifacts [--run-id latest] [--seconds 15]

Both servers run the same model on loopback, one at a time; a bounded asyncio client drives /predict
at 1, 8 and 32 concurrent clients, then /predict_batch (256 texts per request). Prints Markdown.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pandas as pd

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[1]


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


async def load(url: str, bodies: list[dict], clients: int, seconds: float, max_requests: int) -> dict:
    """Closed-loop load: each client sends its next request when the previous one returns."""
    latencies: list[float] = []
    errors = 0
    sent = 0
    deadline = time.perf_counter() + seconds

    async def client(index: int, session: httpx.AsyncClient) -> None:
        nonlocal errors, sent
        i = index
        while time.perf_counter() < deadline and sent < max_requests:
            sent += 1
            started = time.perf_counter()
            try:
                response = await session.post(url, json=bodies[i % len(bodies)])
                ok = response.status_code == 200
            except httpx.HTTPError:
                ok = False
            latencies.append(time.perf_counter() - started)
            errors += not ok
            i += clients

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=30, limits=limits) as session:
        await session.post(url, json=bodies[0])  # warm-up
        started = time.perf_counter()
        await asyncio.gather(*(client(i, session) for i in range(clients)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
        "errors": errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--store", default="artifacts")
    parser.add_argument("--run-id", default="latest")
    parser.add_argument("--seconds", type=float, default=15.0, help="per concurrency level")
    parser.add_argument("--max-requests", type=int, default=20_000, help="per concurrency level")
    parser.add_argument("--out")
    args = parser.parse_args()

    from sentiment_pipeline import record
    from sentiment_pipeline.store import open_store

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
                results[f"seed/{clients}"] = asyncio.run(
                    load(f"http://127.0.0.1:{port}/predict", bodies, clients, args.seconds, args.max_requests)
                )
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
                results[f"bento/{clients}"] = asyncio.run(
                    load(f"http://127.0.0.1:{port}/predict", bodies, clients, args.seconds, args.max_requests)
                )
                print("bentoml", clients, results[f"bento/{clients}"], file=sys.stderr)
            batches = [{"texts": texts[i : i + 256]} for i in range(0, len(texts) - 255, 256)]
            batch = asyncio.run(load(f"http://127.0.0.1:{port}/predict_batch", batches, 4, args.seconds, 2000))
        finally:
            stop(bento)

    lines = [
        "# Serving benchmark",
        "",
        f"Produced by `make bench-serving` (`.venv/bin/python benchmarks/serving_bench.py --store {args.store}`) "
        f"on {time.strftime('%Y-%m-%d')}; model `{tag}`, {os.cpu_count()} cores, loopback, closed-loop clients, "
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
    report = "\n".join(lines)
    print(report)
    if args.out:
        Path(args.out).write_text(report + "\n")


if __name__ == "__main__":
    main()
