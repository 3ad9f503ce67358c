"""Pipeline benchmark: full run on the 27k-tweet file (quality, wall time, peak memory per step), the same run on a
200,000-row file made from it (wall time and peak memory), and cleaning throughput.

    .venv/bin/python benchmarks/pipeline_bench.py --data ../shared/data/tweet_sentiment_extraction/train.csv \
        [--scaled-rows 200000]

The larger file is the original rows followed by pairs of same-label tweets joined into one (distinct texts, so the
splits, vocabulary and test split grow as they would with more data); it is made in a temp folder and removed.
Peak memory is what the runner records (manifest ``timings.<step>_peak_mb``). Prints a Markdown report (and writes
it with --out). Numbers, never assertions.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from bench_report import publish

from sentiment_pipeline.inference.cleaning import STOP_WORDS, CleaningConfig, clean_texts

ROOT = Path(__file__).resolve().parents[1]
OUT_OF_DOMAIN = ROOT.parent / "shared" / "data" / "tweeteval_sentiment" / "val.csv"


def naive_nltk_clean(text: str) -> list[str]:
    """The seed recipe's style: new tokenizer and stemmer objects, a list of stop words, one token at a time."""
    from nltk.stem import PorterStemmer
    from nltk.tokenize import TweetTokenizer

    text = re.sub(r"http\S+", "", text.lower())
    stop_list = sorted(STOP_WORDS)  # a list, as `stopwords.words("english")` returns
    tokens = []
    for token in TweetTokenizer().tokenize(text):
        if token in stop_list:
            continue
        tokens.append(PorterStemmer().stem(token))
    return tokens


def cleaning_throughput(texts: list[str]) -> list[tuple[str, float]]:
    rows = []
    for name, fn in [
        ("naive per-token NLTK loop (seed style, Porter stemming)", lambda ts: [naive_nltk_clean(t) for t in ts]),
        (
            "sentiment_pipeline.clean_texts, Porter stemming + stop words",
            lambda ts: clean_texts(ts, CleaningConfig(stemmer="porter", remove_stop_words=True)),
        ),
        ("sentiment_pipeline.clean_texts, default (no stemming)", lambda ts: clean_texts(ts)),
    ]:
        started = time.perf_counter()
        fn(texts)
        rows.append((name, len(texts) / (time.perf_counter() - started)))
    return rows


def full_run(data: str, store: str, extra: list[str]) -> tuple[dict, float]:
    started = time.perf_counter()
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "sentiment-pipeline"),
            "run",
            "--data",
            data,
            "--store",
            store,
            "--run-id",
            "bench",
            *extra,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"pipeline run failed:\n{result.stderr[-3000:]}")
    return json.loads((Path(store) / "runs" / "bench" / "metrics.json").read_text()), wall


def scaled_copy(data: str, rows: int, out: Path) -> Path:
    """``data``'s rows, then same-label pairs of its tweets joined into one, up to ``rows`` rows (seeded)."""
    frame = pd.read_csv(data, dtype=str, keep_default_na=False)
    rng = random.Random(0)
    by_label = frame.groupby("label_text")["text"].apply(list).to_dict()
    labels = list(frame["label_text"])
    texts, wanted = list(frame["text"]), list(labels)
    while len(texts) < rows:
        label = rng.choice(labels)
        first, second = rng.sample(by_label[label], 2)
        texts.append(f"{first.strip()} {second.strip()}")
        wanted.append(label)
    pd.DataFrame({"text": texts, "label_text": wanted}).to_csv(out, index=False)
    return out


def peaks_gb(timings: dict) -> dict[str, float | None]:
    return {
        step: (timings[f"{step}_peak_mb"] / 1024 if f"{step}_peak_mb" in timings else None)
        for step in ("data", "preprocess", "train", "record")
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", required=True)
    parser.add_argument("--cleaning-sample", type=int, default=5000, help="tweets timed per cleaner")
    parser.add_argument("--out", help="also write the Markdown report here")
    parser.add_argument("-p", "--param", action="append", default=[], help="passed to the run")
    parser.add_argument("--scaled-rows", type=int, default=200_000, help="rows of the larger run (0: none)")
    args = parser.parse_args()

    texts = list(pd.read_csv(args.data, dtype=str, keep_default_na=False)["text"][: args.cleaning_sample])
    throughput = cleaning_throughput(texts)
    scaled = None
    if args.scaled_rows:
        with tempfile.TemporaryDirectory() as tmp:
            bigger = scaled_copy(args.data, args.scaled_rows, Path(tmp) / f"scaled-{args.scaled_rows}.csv")
            scaled = full_run(str(bigger), str(Path(tmp) / "store"), [x for p in args.param for x in ("-p", p)])
    with tempfile.TemporaryDirectory() as store:
        metrics, wall = full_run(args.data, store, [x for p in args.param for x in ("-p", p)])
        ood = None
        if OUT_OF_DOMAIN.exists():
            ood = json.loads(
                subprocess.run(
                    [
                        str(Path(sys.executable).parent / "sentiment-pipeline"),
                        "evaluate",
                        "--store",
                        store,
                        "--data",
                        str(OUT_OF_DOMAIN),
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
            )

    model, baseline = metrics["model"], metrics["baseline"]
    lines = [
        "# Pipeline benchmark",
        "",
        f"Produced by `make bench` (`.venv/bin/python benchmarks/pipeline_bench.py --data {args.data} "
        f"--scaled-rows {args.scaled_rows}`) "
        f"on {time.strftime('%Y-%m-%d')}.",
        "",
        f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}; data: `{args.data}` "
        f"({sum(metrics['data'].values()):,} usable rows; split {metrics['data']})",
        "",
        "| held-out test split | accuracy | macro-F1 | macro-recall |",
        "|---|---|---|---|",
        f"| LSTM ({metrics['training']['ensemble_size']} averaged members: BiLSTM + bags of word bigrams and "
        f"character n-grams) | {model['accuracy']:.4f} | "
        f"{model['macro_f1']:.4f} | {model['macro_recall']:.4f} |",
        f"| TF-IDF + logistic regression baseline, same split | {baseline['accuracy']:.4f} | "
        f"{baseline['macro_f1']:.4f} | {baseline['macro_recall']:.4f} |",
        "",
        f"Validation macro-F1 of the averaged model: {metrics['training']['val_macro_f1']:.4f}; "
        f"epoch kept per member (best validation macro-F1): {metrics['training']['best_epochs']}.",
    ]
    if ood:
        lines.append(
            f"Out-of-domain (TweetEval sentiment val, {ood['n']:,} tweets): macro-recall "
            f"{ood['macro_recall']:.4f}, macro-F1 {ood['macro_f1']:.4f}, accuracy {ood['accuracy']:.4f}."
        )
    timings = metrics["timings"]
    lines += [
        "",
        f"Full run wall time (CLI start to exit): **{wall:.0f} s** — data {timings['data_s']:.1f} s, "
        f"preprocess notebook {timings['preprocess_s']:.1f} s, train notebook {timings['train_s']:.1f} s "
        f"(model fit {metrics['training']['fit_s']:.1f} s), reports + upload {timings['record_s']:.1f} s.",
        "",
    ]
    if scaled:
        runs = [(f"{sum(metrics['data'].values()):,}", metrics, wall)]
        runs.append((f"{sum(scaled[0]['data'].values()):,} (scaled copy)", scaled[0], scaled[1]))
        lines += [
            "Peak resident memory per step (GiB; the runner's peak plus its kernel's, as the manifest records it: an "
            "upper bound on what the task's memory limit must hold):",
            "",
            "| rows | data | preprocess | train | record | wall time | test macro-F1 |",
            "|---|---|---|---|---|---|---|",
        ]
        for index, (rows, run_metrics, run_wall) in enumerate(runs):
            peak = peaks_gb(run_metrics["timings"])
            cells = " | ".join(f"{peak[step]:.2f}" if peak[step] is not None else "?" for step in peak)
            score = f"{run_metrics['model']['macro_f1']:.4f}" if index == 0 else "(not a score)"
            lines.append(f"| {rows} | {cells} | {run_wall:.0f} s | {score} |")
        lines += [
            "",
            "The scaled copy measures cost, not quality: its joined tweets reuse the file's tweets on both sides of "
            "the split.",
            "",
        ]
    lines += [
        f"| cleaner ({len(texts):,} tweets) | tweets/s | speed-up |",
        "|---|---|---|",
    ]
    slowest = throughput[0][1]
    lines += [f"| {name} | {rate:,.0f} | {rate / slowest:.1f}x |" for name, rate in throughput]
    publish(lines, args.out)


if __name__ == "__main__":
    main()
