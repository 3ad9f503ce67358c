"""Import a succeeded run's model into the BentoML model store as ``tweet_sentiment:<run id>``.

The model folder is copied as plain files (``model.keras``, ``tokenizer.json``, ``labels.json``) with
``bentoml.models.create``; ``bentoml.keras`` is deprecated and would not carry the tokenizer.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from ..records import record
from ..records.store import open_store

MODEL_NAME = "tweet_sentiment"
_TAG_MAX = 63  # BentoML's limit for a tag version


def bento_version(run_id: str) -> str:
    """A valid BentoML tag version for a run id (lower case, [a-z0-9_.-]); a hash keeps mangled ids unique."""
    version = re.sub(r"[^a-z0-9_.-]", "-", run_id.lower()).strip("-_.")
    if version == run_id and len(version) <= _TAG_MAX:
        return version
    digest = hashlib.sha256(run_id.encode()).hexdigest()[:8]
    return f"{version[: _TAG_MAX - 9].rstrip('-_.')}-{digest}"


def register_run(store_uri: str, run_id: str = "latest") -> dict:
    """Copy the run's model into the local BentoML model store; idempotent for an already registered run.

    Returns ``{"tag": ..., "run_id": ..., "created": bool, "metadata": {...}}``.
    """
    import bentoml

    store = open_store(store_uri)
    run_id = record.resolve_run_id(store, run_id)
    manifest = record.succeeded_manifest(store, run_id)

    tag = f"{MODEL_NAME}:{bento_version(run_id)}"
    try:
        existing = bentoml.models.get(tag)
        return {"tag": str(existing.tag), "run_id": run_id, "created": False, "metadata": existing.info.metadata}
    except bentoml.exceptions.NotFound:
        pass

    params = record.read_json(store, record.run_key(run_id, record.PARAMS))
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
    with bentoml.models.create(tag, labels=labels, metadata=metadata) as model:
        record.download_model(store, run_id, Path(model.path))
    return {"tag": str(model.tag), "run_id": run_id, "created": True, "metadata": metadata}
