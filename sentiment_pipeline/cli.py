"""``sentiment-pipeline``: run the notebook pipeline, and use what its runs recorded."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from .errors import BadInput, DatasetError, RunFailed, StoreError, Terminated, UsageError
from .params import GATE_MARGIN
from .training.sample import ROWS_PER_LABEL

EXIT_RUN_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_NOT_IDENTICAL = 3  # `reproduce`: the new run succeeded but differs from the one it reproduces
EXIT_DRIFT = 3  # `monitor --fail-on-drift`: the report was made and says the served model's inputs or answers moved


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


def _add_eval_data(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument(
        "--eval-data",
        default=os.environ.get("SENTIMENT_PIPELINE_EVAL_DATA") or None,
        help=f"{help_text}: a labelled CSV/Parquet kept apart from training data (env SENTIMENT_PIPELINE_EVAL_DATA)",
    )


def _add_verbose(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="also print each notebook cell as it runs and its output (the record and reports always have them)",
    )


def _add_report_code(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--report-code",
        action="store_true",
        help="keep the notebooks' code in the HTML reports (hidden by default; the executed notebooks always have it)",
    )


def _resamples(text: str) -> int:
    value = int(text)
    if not 100 <= value <= 100_000:
        raise argparse.ArgumentTypeError(f"must be between 100 and 100000, got {value}")
    return value


def _add_resamples(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--resamples", type=_resamples, default=2000, help="paired bootstrap resamples of the comparison (default 2000)"
    )


def _open_store(uri: str):
    """The command's store, opened once and handed to every layer."""
    from .records.store import open_store

    return open_store(uri)


def _load_predictor(store, run_id: str, workdir: Path):
    from .records import record

    run_id = record.resolve_run_id(store, run_id)
    model_dir = record.download_model(store, run_id, workdir / "model")
    # Keras, the model as trained (the service runs its ONNX export; tests check they agree). TensorFlow takes
    # seconds to import: only once the run is found.
    from .training.keras_predictor import load_keras_predictor

    return run_id, load_keras_predictor(model_dir)


def cmd_run(args: argparse.Namespace) -> int:
    from .params import parse_overrides
    from .training.runner import run_pipeline

    try:
        result = run_pipeline(
            args.data,
            _open_store(args.store),
            run_id=args.run_id,
            overrides=parse_overrides(args.param),
            take_over_stale=args.take_over_stale,
            eval_data_uri=args.eval_data,
            verbose=args.verbose,
            report_code=args.report_code,
            lease_s=args.lease,
            sweep=args.sweep_id,
        )
    except RunFailed as exc:
        return _run_failed(exc)
    print(
        json.dumps(
            {
                "run_id": result.run_id,
                "store": result.store_uri,
                "duration_s": result.duration_s,
                "macro_f1": result.metrics["model"]["macro_f1"],
                "baseline_macro_f1": result.metrics["baseline"]["macro_f1"],
                "edited_notebooks": list(result.edited_notebooks),
            }
        )
    )
    return 0


def _run_failed(exc: RunFailed) -> int:
    print(f"error: {exc}", file=sys.stderr)
    if isinstance(exc.__cause__, Terminated):
        return 128 + exc.__cause__.signal_number  # the shell's convention for a process ended by a signal
    return EXIT_BAD_INPUT if isinstance(exc.__cause__, (DatasetError, StoreError)) else EXIT_RUN_FAILED


def cmd_reproduce(args: argparse.Namespace) -> int:
    from .records import record
    from .training import reproduction
    from .training.runner import run_pipeline

    store = _open_store(args.store)
    source_id = record.resolve_run_id(store, args.run_id)
    with tempfile.TemporaryDirectory(prefix="sentiment-reproduce-") as tmp:
        source = reproduction.prepare(store, source_id, Path(tmp), data_uri=args.data, eval_data_uri=args.eval_data)
        try:
            result = run_pipeline(
                source.data_uri,
                store,
                run_id=args.new_run_id,
                overrides=source.params,
                eval_data_uri=source.eval_data_uri,
                notebooks=source.notebooks,
                reproduces=source_id,
                verbose=args.verbose,
            )
        except RunFailed as exc:
            return _run_failed(exc)
    outcome = result.reproduction or {}
    print(
        json.dumps(
            {
                "run_id": result.run_id,
                "reproduces": source_id,
                "identical": outcome.get("identical"),
                "summary": reproduction.summary(outcome),
                "metrics_max_abs_diff": outcome["metrics"]["max_abs_diff"],
                "weights_max_abs_diff": outcome["weights"]["max_abs_diff"],
                "recorded_notebooks_differ": list(result.edited_notebooks),  # from the installed package's
                "duration_s": result.duration_s,
            }
        )
    )
    return 0 if outcome.get("identical") else EXIT_NOT_IDENTICAL


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .records.store import read_uri
    from .training.data import LABEL_COLUMN, TEXT_COLUMN, load_dataset
    from .training.evaluation import classification_metrics

    dataset = load_dataset(read_uri(args.data), Path(args.data).name)
    with tempfile.TemporaryDirectory() as tmp:
        run_id, predictor = _load_predictor(_open_store(args.store), args.run_id, Path(tmp))
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
        run_id, predictor = _load_predictor(_open_store(args.store), args.run_id, Path(tmp))
    for text, prediction in zip(texts, predictor.predict(texts), strict=False):
        print(json.dumps({"text": text, **prediction, "run_id": run_id}, ensure_ascii=False))
    return 0


def _export_older_run(store, run_id: str, model_dir: Path, manifest: dict) -> dict:
    """Registration's ONNX export of a run recorded before runs exported one: training code, imported only when such
    a run is registered, and handed to deploy/ from here so that deploy/ (the Airflow image's room) imports none."""
    from .training.onnx_export import export_older_run

    return export_older_run(store, run_id, model_dir, manifest)


def cmd_register(args: argparse.Namespace) -> int:
    from .deploy.registry import register_run

    result = register_run(_open_store(args.store), args.run_id, _export_older_run)
    verb = "registered" if result["created"] else "already registered"
    chosen = f", {result['chosen']}" if result["chosen"] else ""
    print(
        f"{verb} {result['tag']} (run {result['run_id']}{chosen}; macro-F1 {result['metadata']['macro_f1']:.4f})",
        file=sys.stderr,
    )
    print(json.dumps({key: result[key] for key in ("tag", "run_id", "chosen", "created")}))
    return 0


def cmd_package(args: argparse.Namespace) -> int:
    from .deploy.packaging import package_run

    result = package_run(_open_store(args.store), args.run_id, args.project_dir, _export_older_run)
    print(f"built {result['bento_tag']} ({result['model_tag']}); context {result['context_uri']}", file=sys.stderr)
    print(json.dumps(result))
    return 0


def cmd_reports(args: argparse.Namespace) -> int:
    from .records.index import write_index

    store = _open_store(args.store)
    if args.compare_served:
        from .training.run_comparison import compare_with_served

        for line in compare_with_served(store, resamples=args.resamples):
            print(line, file=sys.stderr)
    print(write_index(store))
    return 0


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr)


def cmd_compare(args: argparse.Namespace) -> int:
    from .records.index import refresh_index
    from .training.run_comparison import verdict, write_report

    store = _open_store(args.store)
    document = write_report(
        store, args.a, args.b, eval_data=args.eval_data, resamples=args.resamples, report_code=args.report_code
    )
    print(verdict(document), file=sys.stderr)
    print(f"report: {document['report']}", file=sys.stderr)
    refresh_index(store, _to_stderr)  # B's row links the new report
    f1 = document["macro_f1"]
    summary = {
        "a": document["a"]["run_id"],
        "b": document["b"]["run_id"],
        "texts": document["texts"]["n"],
        "macro_f1_a": f1["a"],
        "macro_f1_b": f1["b"],
        **{key: f1[key] for key in ("delta", "low", "high")},
        "mcnemar_p": document["mcnemar"]["p_value"],
        "report": document["report"],
        "json": document["json"],
    }
    print(json.dumps(summary))
    return 0


def cmd_gate(args: argparse.Namespace) -> int:
    from .records import record
    from .records.index import refresh_index
    from .training import quality_gate
    from .training.run_comparison import resolve_reference

    store = _open_store(args.store)
    run_id = record.resolve_run_id(store, args.run_id)
    deployed = None if args.deployed == "none" else resolve_reference(store, args.deployed)
    decision = quality_gate.evaluate(
        store, run_id, deployed, args.min_macro_f1, margin=args.margin, eval_data=args.eval_data
    )
    print(f"quality gate: {decision['decision']} run {run_id}: {decision['reason']}", file=sys.stderr)
    refresh_index(store, _to_stderr)  # the run's row shows the decision and links its comparison
    print(
        json.dumps(
            {
                key: decision[key]
                for key in ("run_id", "decision", "reason", "candidate", "deployed", "interval", "report")
            }
        )
    )
    return 0


def cmd_monitor(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from .params import MONITOR_BY_NAME, parse_overrides
    from .training.monitor_report import run_monitor

    until = _time_arg(args.until, datetime.now(UTC))
    since = _time_arg(args.since, None)
    try:
        result = run_monitor(
            _open_store(args.store),
            _open_store(args.captures),
            run=args.run_id,
            since=since,
            until=until,
            labels_uri=args.labels,
            monitor_id=args.monitor_id,
            overrides=parse_overrides(args.param, MONITOR_BY_NAME),
            report_code=args.report_code,
        )
    except RunFailed as exc:
        return _run_failed(exc)
    summary = result.summary
    print(f"{'DRIFT' if summary.get('drift') else 'no drift'}: {summary.get('headline', '')}", file=sys.stderr)
    print(f"report: {result.report}", file=sys.stderr)
    keys = ("n_texts", "drift", "text_drift_auc", "prediction_js", "oov_rate", "reference_oov_rate")
    print(
        json.dumps(
            {
                "monitor_id": result.monitor_id,
                "run_id": result.run_id,
                **{key: summary.get(key) for key in keys},
                **({"live_macro_f1": summary["live_macro_f1"]} if summary.get("live_macro_f1") else {}),
                "report": result.report,
            }
        )
    )
    return EXIT_DRIFT if args.fail_on_drift and summary.get("drift") else 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from .sweep_plan import default_parallel, plan_sweep
    from .training.sweep import sweep

    if args.parallel is not None and args.parallel < 1:
        raise UsageError(f"--parallel must be 1 or more, got {args.parallel}")
    if args.rank_only and not args.sweep_id:
        raise UsageError("--rank-only ranks the points of an existing sweep: give its --sweep-id")
    plan = plan_sweep(args.grid, args.param, args.sweep_id)  # every point checked before anything runs
    store = _open_store(args.store)
    parallel = args.parallel or default_parallel(len(plan.points))
    try:
        result = sweep(plan, args.data, store, args.eval_data, parallel, rank_only=args.rank_only)
    except Terminated as stopped:
        print(f"error: sweep {plan.sweep_id} {stopped}; the running points recorded themselves failed, the others "
              "did not start (run it again with the same --sweep-id to finish it)", file=sys.stderr)  # fmt: skip
        return 128 + stopped.signal_number
    print(f"report: {result['report']}", file=sys.stderr)
    print(
        json.dumps(
            {
                "sweep_id": result["sweep_id"],
                "best": result["best"],
                "points": len(result["points"]),
                "failed_points": result["failed_points"],
                "texts": (result["texts"] or {}).get("n"),
                "json": result["json"],
                "report": result["report"],
            }
        )
    )
    return 1 if result["failed_points"] else 0


def _time_arg(text: str | None, default):
    from .training.monitor_report import parse_time

    return parse_time(text, default)


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
    _add_eval_data(run, "also score the model on this labelled file")
    run.add_argument(
        "--take-over-stale",
        action="store_true",
        help="re-run a run id whose record, written before runs held a lease, has said 'running' for over 6 h",
    )
    run.add_argument(
        "--lease",
        type=float,
        default=None,
        metavar="SECONDS",
        help="how long the run's claim on its id outlives its last heartbeat (every 30 s); a run of the same id after "
        "that takes it over (default: env SENTIMENT_PIPELINE_LEASE_S, else 120; 10 to 3600)",
    )
    run.add_argument(
        "--sweep-id",
        default=None,
        help="record the run as a point of this sweep (`sweep` sets it); a point leaves latest.json alone",
    )
    run.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a parameter (repeatable), e.g. -p epochs=2",
    )
    _add_verbose(run)
    _add_report_code(run)
    run.set_defaults(func=cmd_run)

    reproduce = commands.add_parser(
        "reproduce",
        help="re-execute a run's recorded notebooks with its parameters and data; exit 3 if the result differs",
    )
    _add_store(reproduce)
    _add_run_id(reproduce)
    reproduce.add_argument("--data", default=None, help="the run's data at another URI (its sha256 must match)")
    reproduce.add_argument(
        "--eval-data", default=None, help="the run's evaluation file at another URI (its sha256 must match)"
    )
    reproduce.add_argument("--new-run-id", default=None, help="the reproduction's run id (default: a new one)")
    _add_verbose(reproduce)
    reproduce.set_defaults(func=cmd_reproduce)

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
    register.add_argument(
        "--run-id",
        default="latest",
        help="a run id, 'latest' (default): what latest.json names, or 'served': the promoted run deployed.json "
        "names, else the newest succeeded run (what `make serve` serves)",
    )
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

    reports = commands.add_parser(
        "reports", help="write index.html of all runs at the store root (--compare-served: each run vs the served one)"
    )
    _add_store(reports)
    reports.add_argument(
        "--compare-served",
        action="store_true",
        help="first compare every succeeded run not yet compared with the served one (deployed.json)",
    )
    _add_resamples(reports)
    reports.set_defaults(func=cmd_reports)

    compare = commands.add_parser(
        "compare",
        help="score two runs' models on the same texts; HTML + JSON report in B's record (JSON summary out)",
    )
    _add_store(compare)
    compare.add_argument("a", help="the reference run: a run id, 'latest' or 'served' (deployed.json)")
    compare.add_argument("b", help="the run measured against it (same forms)")
    _add_eval_data(compare, "score both models on this labelled file (default: both runs' test splits)")
    _add_resamples(compare)
    _add_report_code(compare)
    compare.set_defaults(func=cmd_compare)

    gate = commands.add_parser(
        "gate",
        help="decide whether a run may replace the deployed model; writes runs/<run>/gate.json (JSON out)",
    )
    _add_store(gate)
    _add_run_id(gate)
    gate.add_argument(
        "--deployed",
        required=True,
        help="the deployed run: a run id of this store, 'served' (deployed.json), or 'none' when nothing is deployed "
        "(the threshold alone decides); a run not in the store is an error, one whose record changed holds the run",
    )
    gate.add_argument("--min-macro-f1", type=float, required=True, help="the candidate's macro-F1 must reach this")
    gate.add_argument(
        "--margin",
        type=float,
        default=GATE_MARGIN,
        help=f"promote only if the 95%% interval of candidate − deployed macro-F1 stays above −margin (default "
        f"{GATE_MARGIN})",
    )
    _add_eval_data(gate, "score both models on this labelled file (default: their test splits)")
    gate.set_defaults(func=cmd_gate)

    monitor = commands.add_parser(
        "monitor",
        help="check what the served model answered (its captures) against its run: text and prediction drift, unknown "
        "words, live quality; archived under monitoring/<id>/ (JSON out; exit 2: too few texts, 3: drift with "
        "--fail-on-drift)",
    )
    _add_store(monitor)
    monitor.add_argument(
        "--captures",
        **_env_default("SENTIMENT_CAPTURE_URI"),
        help="where the service captures its answers: folder, file:// or s3:// (env SENTIMENT_CAPTURE_URI)",
    )
    monitor.add_argument(
        "--run-id",
        default="served",
        help="the run whose model answered: a run id, 'latest', or 'served' (default: the promoted run)",
    )
    monitor.add_argument(
        "--since", default=None, help="ISO 8601 time or date, UTC unless given (default: until - 1 day)"
    )
    monitor.add_argument("--until", default=None, help="ISO 8601 time or date, or 'now' (default: now)")
    monitor.add_argument(
        "--labels",
        default=None,
        help="true labels of captured answers: a CSV/Parquet with label_text and request_id or text (live macro-F1)",
    )
    monitor.add_argument("--fail-on-drift", action="store_true", help="exit 3 when the report finds drift")
    monitor.add_argument("--monitor-id", default=None, help="the report's id (default: UTC timestamp + random suffix)")
    monitor.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a check's threshold (repeatable), e.g. -p prediction_js_threshold=0.15 (docs/monitoring.md)",
    )
    _add_report_code(monitor)
    monitor.set_defaults(func=cmd_monitor)

    sweep = commands.add_parser(
        "sweep",
        help="run every point of a parameter grid as a run of its own, then rank them on the same texts",
    )
    sweep.add_argument(
        "--data",
        **_env_default("SENTIMENT_PIPELINE_DATA"),
        help="labelled text,label_text CSV or Parquet, as for `run` (env SENTIMENT_PIPELINE_DATA)",
    )
    _add_store(sweep)
    sweep.add_argument(
        "--grid",
        action="append",
        default=[],
        required=True,
        metavar="KEY=V1,V2",
        help="a swept parameter and its values (repeatable: the points are every combination, at most 64)",
    )
    sweep.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a parameter every point uses (repeatable); split_seed, val_size and test_size can only be fixed",
    )
    _add_eval_data(sweep, "rank the points on this file instead of their shared test split")
    sweep.add_argument(
        "--parallel",
        type=int,
        default=None,
        metavar="N",
        help="points running at once on this machine (default: one per core)",
    )
    sweep.add_argument(
        "--sweep-id",
        default=None,
        help="the sweep's id (default: UTC timestamp + random suffix); its points are <sweep id>-p01, -p02, ...; "
        "run again with the same id, a sweep keeps the points that succeeded",
    )
    sweep.add_argument(
        "--rank-only",
        action="store_true",
        help="run no point: rank the points of --sweep-id as their records stand (the Airflow DAG runs them itself)",
    )
    sweep.set_defaults(func=cmd_sweep)

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
