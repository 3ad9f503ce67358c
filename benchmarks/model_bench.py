"""Model quality: each candidate against today's default on the same texts, judged by `sentiment-pipeline compare`.

    .venv/bin/python benchmarks/model_bench.py --data ../shared/data/tweet_sentiment_extraction/train.csv \
        --store /tmp/model-bench --seeds 42,43 --out benchmarks/model-results.md

For each seed, one full-data run per candidate (run id ``<candidate>-s<seed>``; a succeeded run of that id with the
same parameters is reused, so an interrupted benchmark resumes), then `compare control-s<seed> <candidate>-s<seed>`
twice: on their common test split (``split_seed`` stays 42, so the texts are the same) and on the TweetEval
validation file (--eval-data), which no run trains on. The teacher alone is read from the distilled run's record
(its own test and evaluation-file scores; it is never served, so `compare` cannot load it). Runs one after the other
with nothing else on the machine; numbers, never assertions. Prints a Markdown report and writes it with --out.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from bench_report import publish

from sentiment_pipeline.inference import ONNX_FILE
from sentiment_pipeline.params import resolve
from sentiment_pipeline.records import record

ROOT = Path(__file__).resolve().parents[1]
EVAL_DATA = ROOT.parent / "shared" / "data" / "tweeteval_sentiment" / "val.csv"
CLI = str(Path(sys.executable).parent / "sentiment-pipeline")
# What each candidate changes from today's default, spelled out so the benchmark keeps meaning the same models
# whatever the defaults become.
CONTROL = "control"
CANDIDATES: dict[str, tuple[str, dict]] = {
    CONTROL: ("LSTM ensemble on the true labels (the default before distillation)", {"teacher": "none", "epochs": 2}),
    "distill": (
        "LSTM ensemble distilled from MiniLM: mix 0.8, temperature 1, 3 epochs",
        {"teacher": "minilm", "distill_mix": 0.8, "distill_temperature": 1.0, "epochs": 3},
    ),
}


# --out keeps what follows this line in the file it rewrites: notes and earlier candidates written by hand.
KEPT = "<!-- written by hand below; model_bench.py keeps it -->"


def cli(*args: str, env: dict | None = None) -> tuple[dict, float]:
    """Run one CLI command; its last JSON line and the wall time."""
    started = time.perf_counter()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    result = subprocess.run([CLI, *args], capture_output=True, text=True, env=env)
    if result.returncode != 0:
        sys.exit(f"{' '.join(args[:2])} exited {result.returncode}:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1]), time.perf_counter() - started


def ensure_run(store: Path, run_id: str, data: str, eval_data: str, overrides: dict) -> dict:
    """The run's record (made now unless a succeeded run of that id has the same parameters)."""
    folder = store / record.run_key(run_id)
    wanted = resolve(overrides)
    if (folder / record.MANIFEST).is_file():
        manifest = json.loads((folder / record.MANIFEST).read_text())
        recorded = json.loads((folder / record.PARAMS).read_text())["params"]
        if manifest["status"] == record.SUCCEEDED and all(recorded.get(k) == v for k, v in wanted.items()):
            print(f"reusing {run_id}", file=sys.stderr)
            return read_run(folder)
        sys.exit(f"{folder} exists with other parameters or not succeeded: remove it or use another --store")
    args = [arg for name, value in overrides.items() for arg in ("-p", f"{name}={value}")]
    print(f"running {run_id} {' '.join(args)}", file=sys.stderr)
    cli("run", "--data", data, "--eval-data", eval_data, "--store", str(store), "--run-id", run_id, *args)
    return read_run(folder)


def read_run(folder: Path) -> dict:
    return {
        "metrics": json.loads((folder / record.METRICS).read_text()),
        "onnx_mb": (folder / record.MODEL_DIR / ONNX_FILE).stat().st_size / 1e6,
    }


def serving_side_by_side(store: Path, run_ids: list[str], rounds: int, seconds: float) -> dict[str, dict]:
    """Each run's model registered and served by `bentoml serve` (service.py as shipped), all up at once; `rounds`
    rounds of /predict at 32 clients on the run's own test tweets, one server after the other, the order reversed
    each round (serving_bench's helpers: wrk from a separate process)."""
    import tempfile

    import pandas as pd
    from serving_bench import BIN, free_port, load, start, stop

    home = Path(tempfile.mkdtemp(prefix="model-bench-bentoml-"))
    env = {"BENTOML_HOME": str(home), "BENTOML_DO_NOT_TRACK": "true"}
    servers, urls, out = {}, {}, {run_id: [] for run_id in run_ids}
    try:
        for run_id in run_ids:
            registered, _ = cli("register", "--store", str(store), "--run-id", run_id, env=env)
            port = free_port()
            urls[run_id] = f"http://127.0.0.1:{port}"
            servers[run_id] = start(
                [str(BIN / "bentoml"), "serve", "--host", "127.0.0.1", "service:TweetSentiment", "--port", str(port)],
                {**env, "SENTIMENT_MODEL_TAG": registered["tag"]},
                f"{urls[run_id]}/readyz",
            )
        test_split = store / record.run_key(run_ids[0], record.split_path("test"))
        texts = pd.read_csv(test_split, dtype=str, keep_default_na=False)
        bodies = [{"text": text} for text in texts["text"]]
        for turn in range(rounds):
            for run_id in run_ids if turn % 2 == 0 else run_ids[::-1]:
                out[run_id].append(load(f"{urls[run_id]}/predict", bodies, 32, seconds))
                print("serving", run_id, turn, out[run_id][-1], file=sys.stderr)
    finally:
        for server in servers.values():
            stop(server)
    return {
        run_id: {
            "rps": sum(r["rps"] for r in results) / len(results),
            "p50_ms": sum(r["p50_ms"] for r in results) / len(results),
            "p99_ms": sum(r["p99_ms"] for r in results) / len(results),
            "errors": sum(r["errors"] for r in results),
        }
        for run_id, results in out.items()
    }


def interval(summary: dict) -> str:
    return f"{summary['delta']:+.4f} [{summary['low']:+.4f}, {summary['high']:+.4f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--eval-data", default=os.path.relpath(EVAL_DATA))
    parser.add_argument("--store", required=True, help="a folder kept between invocations (runs are reused)")
    parser.add_argument("--seeds", default="42,43")
    parser.add_argument("--serving-rounds", type=int, default=4, help="0: leave out the serving comparison")
    parser.add_argument("--serving-seconds", type=float, default=15.0)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    store, seeds = Path(args.store), [int(s) for s in args.seeds.split(",")]

    rows, teacher_rows = [], []
    for seed in seeds:
        runs = {
            name: ensure_run(store, f"{name}-s{seed}", args.data, args.eval_data, {**overrides, "seed": seed})
            for name, (_, overrides) in CANDIDATES.items()
        }
        for name, run in runs.items():
            metrics, timings = run["metrics"], run["metrics"]["timings"]
            row = {
                "name": name,
                "seed": seed,
                "test": metrics["model"]["macro_f1"],
                "eval": metrics["eval_data"]["model"]["macro_f1"],
                "total_s": timings["total_s"],
                "train_s": timings["train_s"],
                "peak_gib": timings["train_peak_mb"] / 1024,
                "onnx_mb": run["onnx_mb"],
                "epochs": metrics["training"]["best_epochs"],
            }
            if name != CONTROL:
                row["vs_test"], _ = cli("compare", "--store", str(store), f"{CONTROL}-s{seed}", f"{name}-s{seed}")
                row["vs_eval"], _ = cli(
                    "compare",
                    "--store",
                    str(store),
                    "--eval-data",
                    args.eval_data,
                    f"{CONTROL}-s{seed}",
                    f"{name}-s{seed}",
                )
            rows.append(row)
            if "teacher" in metrics:
                teacher = metrics["teacher"]
                # Records made while distillation was being written kept the teacher's seconds at its top level.
                seconds = teacher.get("timings", teacher)
                teacher_rows.append(
                    {
                        "seed": seed,
                        "test": teacher["test"]["macro_f1"],
                        "eval": metrics["eval_data"].get("teacher", {}).get("macro_f1"),
                        "val": teacher["val_macro_f1"],
                        "fit_s": seconds["fit_s"],
                        "predict_s": seconds["predict_s"],
                    }
                )

    lines = [
        "# Model quality",
        "",
        f"`{' '.join(sys.argv)}` on {platform.node()}, {os.cpu_count()} cores, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. Data `{args.data}`; out-of-domain file "
        f"`{args.eval_data}`. Each candidate is compared with `{CONTROL}` of the same seed on the same texts "
        "(`sentiment-pipeline compare`: paired bootstrap, 2,000 resamples, 95% interval).",
        "",
        "| candidate | what it is |",
        "|---|---|",
        *(f"| `{name}` | {text}: `{json.dumps(overrides)}` |" for name, (text, overrides) in CANDIDATES.items()),
        "",
        "| candidate | seed | test macro-F1 | vs control, own test split | TweetEval macro-F1 | vs control, TweetEval "
        "| run time | train step | train peak | `model.onnx` | epochs kept |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| `{row['name']}` | {row['seed']} | {row['test']:.4f} | "
            + (interval(row["vs_test"]) if "vs_test" in row else "—")
            + f" | {row['eval']:.4f} | "
            + (interval(row["vs_eval"]) if "vs_eval" in row else "—")
            + f" | {row['total_s']:.0f} s | {row['train_s']:.0f} s | {row['peak_gib']:.1f} GiB | "
            f"{row['onnx_mb']:.1f} MB | {row['epochs']} |"
        )
    if teacher_rows:
        lines += [
            "",
            "The teacher alone (read from the distilled runs' records; never served):",
            "",
            "| seed | validation macro-F1 | test macro-F1 | TweetEval macro-F1 | fine-tuning | labelling |",
            "|---|---|---|---|---|---|",
            *(
                f"| {t['seed']} | {t['val']:.4f} | {t['test']:.4f} | "
                + (f"{t['eval']:.4f}" if t["eval"] is not None else "—")
                + f" | {t['fit_s']:.0f} s | {t['predict_s']:.0f} s |"
                for t in teacher_rows
            ),
        ]
    if args.serving_rounds:
        served = [f"{name}-s{seeds[0]}" for name in CANDIDATES]
        serving = serving_side_by_side(store, served, args.serving_rounds, args.serving_seconds)
        reference = serving[served[0]]["rps"]
        lines += [
            "",
            f"Serving: each model by `bentoml serve` (service.py as shipped), all up at once, {args.serving_rounds} "
            f"rounds of {args.serving_seconds:.0f} s of /predict at 32 clients (wrk) on the test tweets, alternating "
            "servers; means over the rounds:",
            "",
            "| run | requests/s | vs control | p50 | p99 | errors |",
            "|---|---|---|---|---|---|",
            *(
                f"| `{run_id}` | {r['rps']:,.0f} | {r['rps'] / reference:.2f}x | {r['p50_ms']:.1f} ms | "
                f"{r['p99_ms']:.1f} ms | {r['errors']} |"
                for run_id, r in serving.items()
            ),
        ]
    if args.out and Path(args.out).is_file() and KEPT in Path(args.out).read_text():
        lines += ["", KEPT + Path(args.out).read_text().split(KEPT, 1)[1].rstrip("\n")]  # the hand-written part
    publish(lines, args.out)


if __name__ == "__main__":
    main()
