"""Reproducibility and the noise floor, on the full data: what a user of `reproduce` and `compare` should expect.

    .venv/bin/python benchmarks/reproduce_bench.py --data ../shared/data/tweet_sentiment_extraction/train.csv \
        --out benchmarks/reproduce-results.md

1. a full-data run with the default parameters (seed 42), timed;
2. `sentiment-pipeline reproduce` of it: identical or not (metrics, weights, splits, tokenizer), timed;
3. `sentiment-pipeline reproduce` of an older recorded run, if --older names one (code may have changed since);
4. the same run with seed 43, and `sentiment-pipeline compare` of the two: the paired 95% interval of the
   macro-F1 difference of two models that differ only in their seed, the noise the quality gate's margin faces;
   once on their common test split (`split_seed` stays 42, so only the model's seed differs), once on a fixed
   evaluation file kept apart from the training data (--eval-data; default the 2,000 TweetEval validation tweets).

Every step is the CLI a user types, run one after the other with nothing else on the machine. Numbers, never
assertions. Prints a Markdown report and writes it with --out.
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

from sentiment_pipeline.training.quality_gate import DEFAULT_MARGIN, decide

ROOT = Path(__file__).resolve().parents[1]
EVAL_DATA = ROOT.parent / "shared" / "data" / "tweeteval_sentiment" / "val.csv"
CLI = str(Path(sys.executable).parent / "sentiment-pipeline")


def cli(*args: str) -> tuple[dict, float, int]:
    """Run one CLI command; its last JSON line, the wall time and the exit code."""
    started = time.perf_counter()
    result = subprocess.run([CLI, *args], capture_output=True, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    seconds = time.perf_counter() - started
    if result.returncode not in (0, 3):  # 3: `reproduce` ran and the result differs, which is a finding
        sys.exit(f"{' '.join(args[:2])} exited {result.returncode}:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1]), seconds, result.returncode


def reproduction_rows(store: str, run_id: str, outcome: dict, seconds: float, original_s: float | None) -> list[str]:
    document = json.loads(Path(store, "runs", outcome["run_id"], "reproduction.json").read_text())
    metrics, weights = document["metrics"], document["weights"]
    code = document["code"]
    return [
        f"| run reproduced | `{run_id}` (recorded at commit `{str(code['recorded'].get('commit'))[:10]}`) |",
        f"| reproduction | `{outcome['run_id']}` (commit `{str(code['reproduced'].get('commit'))[:10]}`) |",
        f"| identical | **{'yes' if document['identical'] else 'no'}**: {outcome['summary']} |",
        f"| test macro-F1 recorded / reproduced | {metrics['macro_f1']['recorded']:.4f} / "
        f"{metrics['macro_f1']['reproduced']:.4f} |",
        f"| metric values compared / differing | {metrics['compared']} / {metrics['differ']} "
        f"(largest difference {metrics['max_abs_diff']:.3g}, of any value: counts included) |",
        f"| weight tensors compared / differing | {weights['tensors']} ({weights['parameters']:,} parameters) / "
        f"{weights['differ']} ("
        + ("shapes differ" if weights["max_abs_diff"] is None else f"largest difference {weights['max_abs_diff']:.3g}")
        + ") |",
        f"| splits, tokenizer, model.onnx bytes identical | {document['splits_identical']}, "
        f"{document['tokenizer_identical']}, {document['onnx_file_identical']} |",
        f"| library versions changed | {', '.join(document['versions_changed']) or 'none'} |",
        f"| wall time (CLI start to exit) | {seconds:.0f} s"
        + (f" (the run it reproduces: {original_s:.0f} s)" if original_s else "")
        + " |",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--store", default=None, help="default: a temporary folder")
    parser.add_argument("--older", default=None, help="also reproduce this run of --older-store (recorded earlier)")
    parser.add_argument("--older-store", default=str(ROOT / "artifacts"))
    parser.add_argument("--eval-data", default=os.path.relpath(EVAL_DATA) if EVAL_DATA.is_file() else None)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    store = args.store or tempfile.mkdtemp(prefix="reproduce-bench-")

    first, first_s, _ = cli("run", "--data", args.data, "--store", store, "-p", "seed=42")
    again, again_s, _ = cli("reproduce", "--store", store, "--run-id", first["run_id"])
    older = cli("reproduce", "--store", args.older_store, "--run-id", args.older)[:2] if args.older else None
    other, other_s, _ = cli("run", "--data", args.data, "--store", store, "-p", "seed=43")
    # Each compare stores its own document (comparisons/<A>.json, or eval-<sha12>/<A>.json on the evaluation file).
    comparisons = []
    for extra in ([], *([["--eval-data", args.eval_data]] if args.eval_data else [])):
        summary, seconds, _ = cli("compare", "--store", store, first["run_id"], other["run_id"], *extra)
        comparisons.append((json.loads(Path(summary["json"]).read_text()), seconds))
    options = [
        "--data",
        args.data,
        *(["--older", args.older] if args.older else []),
        *(["--eval-data", args.eval_data] if args.eval_data else []),
        *(["--out", args.out] if args.out else []),
    ]
    command = " ".join(["python benchmarks/reproduce_bench.py", *options])
    lines = [
        "# Reproduce and compare benchmark",
        "",
        f"Produced by `make bench-reproduce` (`{command}`) on {time.strftime('%Y-%m-%d')}.",
        "",
        f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}; data: `{args.data}`; every step is the "
        "CLI, one after the other, nothing else running.",
        "",
        "## Reproducing the full-data run",
        "",
        "| | |",
        "|---|---|",
        *reproduction_rows(store, first["run_id"], again, again_s, first_s),
    ]
    if older:
        lines += [
            "",
            "## Reproducing a run recorded by an earlier commit",
            "",
            "The recorded notebooks run with the current package: a difference here measures what changed in the code "
            "since (the commits are in the table), not noise.",
            "",
            "| | |",
            "|---|---|",
            *reproduction_rows(args.older_store, args.older, older[0], older[1], None),
        ]
    lines += [
        "",
        "## The noise floor: two runs that differ only in `seed`",
        "",
        f"Seed 42 (A, `{first['run_id']}`, {first_s:.0f} s, recorded test macro-F1 {first['macro_f1']:.4f}) against "
        f"seed 43 (B, `{other['run_id']}`, {other_s:.0f} s, {other['macro_f1']:.4f}). Both split with `split_seed` "
        "42, so they share their test split and only the weight initialisation and the shuffling differ; the fixed "
        "evaluation file is a second, independent set of texts.",
        "",
        "| `sentiment-pipeline compare A B` on | texts | macro-F1 A | macro-F1 B | B − A | paired 95% interval | "
        "McNemar (only B right / only A right, p) | gate at margin 0.005, B as candidate | time |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    held = []
    for document, seconds in comparisons:
        f1, flips, texts = document["macro_f1"], document["mcnemar"], document["texts"]
        where = (
            f"`{texts['eval_data']['uri']}`"
            if texts["source"] == "eval_data"
            else f"their test split ({texts['excluded_seen_in_training']:,} texts left out: a model trained on them)"
        )
        promote, _ = decide(f1["b"], 0.0, f1, DEFAULT_MARGIN)
        held.append((not promote, (f1["high"] - f1["low"]) / 2))
        lines.append(
            f"| {where} | {texts['n']:,} | {f1['a']:.4f} | {f1['b']:.4f} | {f1['delta']:+.4f} | "
            f"[{f1['low']:+.4f}, {f1['high']:+.4f}] (width {f1['high'] - f1['low']:.4f}) | "
            f"{flips['only_b']} / {flips['only_a']}, p = {flips['p_value']:.2g} | "
            f"{'promote' if promote else 'hold'} | {seconds:.0f} s |"
        )
    if all(was_held for was_held, _ in held):
        lines += [
            "",
            "A retrain that is no better than the deployed model lands about this far from it. The gate promotes only "
            f"when the interval's lower bound is above −margin, so at the default margin ({DEFAULT_MARGIN}) such a "
            f"retrain is held; a margin near the interval's half-width (here {held[-1][1]:.3f}) would let "
            "equivalent retrains through, at the price of accepting a regression that small.",
        ]
    publish(lines, args.out)


if __name__ == "__main__":
    main()
