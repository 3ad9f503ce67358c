"""``sentiment-pipeline``: run the notebook pipeline, and use what its runs recorded."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from .errors import BadInput, DatasetError, StoreError, Terminated, UsageError
from .training.sample import ROWS_PER_LABEL

EXIT_RUN_FAILED = 1
EXIT_BAD_INPUT = 2


def _env_default(name: str) -> dict:
    value = os.environ.get(name)
    return {"default": value, "required": value is None}


def _add_store(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        **_env_default("SENTIMENT_PIPELINE_STORE"),
        help="run store: folder, file:// or s3://bucket/prefix (env SENTIMENT_PIPELINE_STORE)",
    )


def _add_run_id(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run-id", default="latest", help="a run id, or 'latest' (default): what latest.json names")


def _load_predictor(store_uri: str, run_id: str, workdir: Path):
    from .records import record
    from .records.store import open_store

    store = open_store(store_uri)
    run_id = record.resolve_run_id(store, run_id)
    model_dir = record.download_model(store, run_id, workdir / "model")
    # Keras, the model as trained (the service runs its ONNX export; tests check they agree). TensorFlow takes
    # seconds to import: only once the run is found.
    from .training.keras_predictor import load_keras_predictor

    return run_id, load_keras_predictor(model_dir)


def cmd_run(args: argparse.Namespace) -> int:
    from .params import parse_overrides
    from .training.runner import RunFailed, run_pipeline

    if not sys.stderr.isatty():  # in a container: stream the notebooks' cell output into the task log
        logging.basicConfig(level=logging.WARNING, format="%(message)s")
        logging.getLogger("papermill").setLevel(logging.INFO)

    try:
        result = run_pipeline(
            args.data,
            args.store,
            run_id=args.run_id,
            overrides=parse_overrides(args.param),
            take_over_stale=args.take_over_stale,
        )
    except RunFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        if isinstance(exc.__cause__, Terminated):
            return 128 + exc.__cause__.signal_number  # the shell's convention for a process ended by a signal
        return EXIT_BAD_INPUT if isinstance(exc.__cause__, (DatasetError, StoreError)) else EXIT_RUN_FAILED
    print(
        json.dumps(
            {
                "run_id": result.run_id,
                "store": result.store_uri,
                "duration_s": result.duration_s,
                "macro_f1": result.metrics["model"]["macro_f1"],
                "baseline_macro_f1": result.metrics["baseline"]["macro_f1"],
            }
        )
    )
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .records.store import read_uri
    from .training.data import LABEL_COLUMN, TEXT_COLUMN, load_dataset
    from .training.evaluation import classification_metrics

    dataset = load_dataset(read_uri(args.data), Path(args.data).name)
    with tempfile.TemporaryDirectory() as tmp:
        run_id, predictor = _load_predictor(args.store, args.run_id, Path(tmp))
    texts = list(dataset.frame[TEXT_COLUMN])
    predicted: list[str] = []
    for start in range(0, len(texts), 1024):  # bounded memory for big files
        predicted += [p["label"] for p in predictor.predict(texts[start : start + 1024])]
    metrics = classification_metrics(list(dataset.frame[LABEL_COLUMN]), predicted, predictor.labels)
    print(json.dumps({"run_id": run_id, "data": args.data, "data_sha256": dataset.sha256, **metrics}, indent=2))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    texts = [line.rstrip("\n") for line in sys.stdin] if args.texts == ["-"] else args.texts
    if not texts:
        raise UsageError("no texts given: pass TEXT arguments or '-' to read one text per line from stdin")
    with tempfile.TemporaryDirectory() as tmp:
        run_id, predictor = _load_predictor(args.store, args.run_id, Path(tmp))
    for text, prediction in zip(texts, predictor.predict(texts), strict=False):
        print(json.dumps({"text": text, **prediction, "run_id": run_id}, ensure_ascii=False))
    return 0


def cmd_register(args: argparse.Namespace) -> int:
    from .deploy.registry import register_run

    result = register_run(args.store, args.run_id)
    verb = "registered" if result["created"] else "already registered"
    print(
        f"{verb} {result['tag']} (run {result['run_id']}, macro-F1 {result['metadata']['macro_f1']:.4f})",
        file=sys.stderr,
    )
    print(json.dumps({"tag": result["tag"], "run_id": result["run_id"], "created": result["created"]}))
    return 0


def cmd_package(args: argparse.Namespace) -> int:
    from .deploy.packaging import package_run

    result = package_run(args.store, args.run_id, args.project_dir)
    print(f"built {result['bento_tag']} ({result['model_tag']}); context {result['context_uri']}", file=sys.stderr)
    print(json.dumps(result))
    return 0


def cmd_reports(args: argparse.Namespace) -> int:
    from .records.index import write_index
    from .records.store import open_store

    print(write_index(open_store(args.store)))
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from .training.sample import sample_csv

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(sample_csv(rows_per_label=args.rows_per_label, seed=args.seed))
    print(out)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sentiment-pipeline", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="execute the notebooks with papermill and record the run")
    run.add_argument(
        "--data",
        **_env_default("SENTIMENT_PIPELINE_DATA"),
        help="labelled text,label_text CSV or Parquet: path, file://, s3:// or https:// (env SENTIMENT_PIPELINE_DATA)",
    )
    _add_store(run)
    run.add_argument("--run-id", default=None, help="default: UTC timestamp + random suffix")
    run.add_argument(
        "--take-over-stale",
        action="store_true",
        help="re-run a run id whose record has said 'running' for over 6 h (its process was killed or lost)",
    )
    run.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a parameter (repeatable), e.g. -p epochs=2",
    )
    run.set_defaults(func=cmd_run)

    evaluate = commands.add_parser("evaluate", help="score a run's model on a labelled file (JSON out)")
    _add_store(evaluate)
    _add_run_id(evaluate)
    evaluate.add_argument("--data", required=True, help="labelled CSV or Parquet (path, s3://, https://)")
    evaluate.set_defaults(func=cmd_evaluate)

    predict = commands.add_parser("predict", help="label texts with a run's model (one JSON line each)")
    _add_store(predict)
    _add_run_id(predict)
    predict.add_argument("texts", nargs="+", metavar="TEXT", help="texts, or '-' to read lines from stdin")
    predict.set_defaults(func=cmd_predict)

    register = commands.add_parser("register", help="import a succeeded run's model into the BentoML model store")
    _add_store(register)
    _add_run_id(register)
    register.set_defaults(func=cmd_register)

    package = commands.add_parser(
        "package", help="register a run, build its bento and upload it as an image build context (JSON out)"
    )
    _add_store(package)
    _add_run_id(package)
    package.add_argument(
        "--project-dir",
        default=os.environ.get("SENTIMENT_PIPELINE_PROJECT_DIR", "."),
        help="folder with bentofile.yaml and service.py (default: . or env SENTIMENT_PIPELINE_PROJECT_DIR)",
    )
    package.set_defaults(func=cmd_package)

    reports = commands.add_parser("reports", help="write index.html of all runs at the store root")
    _add_store(reports)
    reports.set_defaults(func=cmd_reports)

    sample = commands.add_parser("sample", help="write the small synthetic dataset the default run uses")
    sample.add_argument("--out", default="data/sample.csv")
    sample.add_argument("--rows-per-label", type=int, default=ROWS_PER_LABEL)
    sample.add_argument("--seed", type=int, default=7)
    sample.set_defaults(func=cmd_sample)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except BadInput as exc:  # the project's own bad-input errors; anything else is a bug and keeps its traceback
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
