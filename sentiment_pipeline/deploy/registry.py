"""Import a succeeded run's model into the BentoML model store as ``tweet_sentiment:<run id>``.

The BentoML model holds what serving reads, as plain files: ``model.onnx``, ``tokenizer.json`` and ``labels.json``
(``bentoml.models.create``; ``bentoml.keras`` is deprecated and would not carry the tokenizer). ``model.keras`` stays
in the run record, for the CLI. A run recorded before runs exported ONNX gets its ``model.onnx`` here, checked on its
own test split as training checks it; a model registered without one is registered again.
"""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..inference import ONNX_FILE, SERVED_FILES
from ..records import record
from ..records.store import Store

MODEL_NAME = "tweet_sentiment"


bento_version = record.tag_version  # a run's model and bento version


# Exports a run recorded before runs exported ONNX: ``training.onnx_export.export_older_run``, handed in by the CLI,
# so this module (the Airflow image's room) imports no training code: (store, run id, model folder, manifest) -> check.
OlderRunExporter = Callable[[Store, str, Path, dict], dict]


def register_run(store: Store, run_id: str = "latest", export_older_run: OlderRunExporter | None = None) -> dict:
    """Copy the run's model into the local BentoML model store; idempotent for an already registered run.

    ``run_id``: a run id, ``latest`` or ``served`` (the promoted run, else the newest succeeded run:
    ``record.serving_run``).
    Returns ``{"tag": ..., "run_id": ..., "chosen": why that run (None: named), "created": bool, "metadata": {...}}``.
    """
    import bentoml

    run_id, chosen = record.choose_run(store, run_id)
    manifest = record.succeeded_manifest(store, run_id)

    tag = f"{MODEL_NAME}:{bento_version(run_id)}"
    try:
        existing = bentoml.models.get(tag)
        if (Path(existing.path) / ONNX_FILE).is_file():
            return {
                "tag": str(existing.tag),
                "run_id": run_id,
                "chosen": chosen,
                "created": False,
                "metadata": existing.info.metadata,
            }
        bentoml.models.delete(tag)  # registered before models carried model.onnx: the service could not load it
    except bentoml.exceptions.NotFound:
        pass

    params = record.read_params(store, run_id, manifest)
    metrics = record.read_metrics(store, run_id)
    metadata = {
        "run_id": run_id,
        "store": store.uri,
        "data_uri": params["data"]["uri"],
        "data_sha256": params["data"]["sha256"],
        "macro_f1": metrics["model"]["macro_f1"],
        "accuracy": metrics["model"]["accuracy"],
        "macro_recall": metrics["model"]["macro_recall"],
        "baseline_macro_f1": metrics["baseline"]["macro_f1"],
        "git_commit": (manifest.get("git") or {}).get("commit"),
        "params": params["params"],
    }
    labels = {"run_id": bento_version(run_id), "data_sha256": params["data"]["sha256"][:16], "stage": "candidate"}
    with tempfile.TemporaryDirectory() as tmp:
        staged = record.download_model(store, run_id, Path(tmp) / "model")
        if (staged / ONNX_FILE).exists():
            check = {**metrics["onnx"], "exported": "training"} if "onnx" in metrics else {"exported": "training"}
        else:
            check = {**_export_older(store, run_id, staged, manifest, export_older_run), "exported": "registration"}
        metadata["onnx"] = {k: check[k] for k in ("exported", "n", "max_abs_diff", "argmax_agrees") if k in check}
        with bentoml.models.create(tag, labels=labels, metadata=metadata) as model:
            for name in SERVED_FILES:
                shutil.copy2(staged / name, Path(model.path) / name)
    return {"tag": str(model.tag), "run_id": run_id, "chosen": chosen, "created": True, "metadata": metadata}


EXPORTER_MODULES = ("tensorflow", "keras", "tf2onnx", "onnxruntime")  # what exporting a recorded model needs


def _export_older(
    store: Store, run_id: str, model_dir: Path, manifest: dict, exporter: OlderRunExporter | None
) -> dict[str, Any]:
    """``model.onnx`` for a run recorded before runs exported it, checked on the run's recorded test split."""
    missing = [name for name in EXPORTER_MODULES if importlib.util.find_spec(name) is None]
    if missing or exporter is None:  # e.g. the Airflow image: the package without its training dependencies
        why = f"{', '.join(missing)} not installed" if missing else "no exporter was given"
        raise ConfigError(
            f"run {run_id} has no {ONNX_FILE} (it was recorded before runs exported one) and it cannot be exported "
            f"here ({why}): register it with `sentiment-pipeline register` where the pipeline trains (the training "
            "image or `make venv`), or run the pipeline again"
        )
    return exporter(store, run_id, model_dir, manifest)
