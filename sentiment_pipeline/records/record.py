"""The run record's layout and its readers (docs/run-record.md): every file name of a record, the facts a manifest
records, the one "run must have succeeded" check every reader makes and the checked reads. The documents themselves
are shaped in ``documents.py``."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import secrets
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from ..errors import RunIdError
from .store import Store, StoreError

RUNS = "runs/"  # runs/<run_id>/: one run's record
MONITORING = "monitoring/"  # monitoring/<monitor_id>/: one `monitor` report on a served model's captured answers
DRIFT = "drift.json"  # in a monitoring record: the checks' results (docs/monitoring.md)
MONITOR_REPORT = "report.html"  # in a monitoring record, beside the executed monitor.ipynb
SWEEPS = "sweeps/"  # sweeps/<sweep_id>/: one `sweep`'s ranking of its points (each point a run of runs/)
SWEEP = "sweep.json"  # in a sweep record: the points, their scores on the same texts, the ranking
SWEEP_NOTEBOOK = "sweep.ipynb"  # in a sweep record: the executed notebook that presents sweep.json
SWEEP_REPORT = "sweep.html"  # the same rendered to HTML
LATEST = "latest.json"
INDEX = "index.html"
DEPLOYED = "deployed.json"  # local-mode Airflow: the run whose bento was built last (ECS mode asks ECS instead)
# the files of runs/<run_id>/ (docs/run-record.md)
PARAMS = "params.json"
METRICS = "metrics.json"
MANIFEST = "manifest.json"
MODEL_DIR = "model/"  # the model as inference/ loads it (its file names: sentiment_pipeline/inference/__init__.py)
NOTEBOOKS_DIR = "notebooks/"  # the executed notebooks
REPORTS_DIR = "reports/"  # the same rendered to HTML
DATA_DIR = "data/"  # the split, one CSV per part
BENTO_CONTEXT = "bento/context.tar.gz"  # `package`: the image build context Kaniko reads
# written by later commands: `reproduce` (in its new run), `compare A B` (in B's run, named after A), the gate
REPRODUCTION = "reproduction.json"
COMPARISONS = "comparisons/"  # <A>.{html,json}, or eval-<sha12>/<A>.* for those scored on an evaluation file
GATE = "gate.json"
SUCCEEDED, FAILED, RUNNING = "succeeded", "failed", "running"
# Parameters added after runs were recorded, and the one such a run used in their place (read_params).
PARAMS_STANDING_IN = {"split_seed": "seed"}  # before split_seed (2026-11-27), seed drew the split too
# Parameters added after runs were recorded whose default is not what those runs did: the value they did run with.
PARAMS_BEFORE_THEY_EXISTED = {"teacher": "none"}  # runs before distillation (2026-12-05) had no teacher
RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:+-]{0,127}$")
TRACKED_PACKAGES = (
    "sentiment-pipeline",
    "tensorflow-cpu",
    "tensorflow",
    "keras",
    "papermill",
    "nbconvert",
    "nltk",
    "scikit-learn",
    "pandas",
    "numpy",
    "boto3",
)


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def new_run_id() -> str:
    """Sortable by time, unique enough for concurrent runs."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def check_run_id(run_id: str) -> str:
    # Airflow run ids ("scheduled__2026-11-24T00:00:00+00:00") must pass; path tricks must not.
    if not RUN_ID_PATTERN.match(run_id) or ".." in run_id:
        raise RunIdError(f"invalid run id {run_id!r}: use letters, digits and . _ : + - (max 128)")
    return run_id


def comparison_name(against: str, eval_sha256: str | None = None) -> str:
    """Where in B's record its comparison against run ``against`` goes, without the extension.

    One name per pair *and* set of texts: on both runs' test splits ``comparisons/<A>``, on an evaluation file
    ``comparisons/eval-<its sha256[:12]>/<A>``, so a comparison on other texts never overwrites one made earlier
    (the gate's evidence, say). The same pair on the same texts gives the same numbers, so that one may be redone.
    """
    return f"{COMPARISONS}{f'eval-{eval_sha256[:12]}/' if eval_sha256 else ''}{against}"


def run_key(run_id: str, name: str = "") -> str:
    return f"{RUNS}{run_id}/{name}" if name else f"{RUNS}{run_id}/"


def monitoring_key(monitor_id: str, name: str = "") -> str:
    return f"{MONITORING}{monitor_id}/{name}"


def sweep_key(sweep_id: str, name: str = "") -> str:
    return f"{SWEEPS}{sweep_id}/{name}"


def sweep_point_id(sweep_id: str, index: int) -> str:
    """The run id of a sweep's ``index``-th point (1-based): the sweep's id and the point's number."""
    return check_run_id(f"{sweep_id}-p{index:02d}")


_TAG_MAX = 63  # BentoML's limit for a tag version


def tag_version(run_id: str) -> str:
    """The version a run's model carries in BentoML (``tweet_sentiment:<version>``), in its bento and in the captures
    of its answers: the run id if it is a valid tag version (lower case, [a-z0-9_.-]), else a mangled id with a hash
    that keeps it unique."""
    version = re.sub(r"[^a-z0-9_.-]", "-", run_id.lower()).strip("-_.")
    if version == run_id and len(version) <= _TAG_MAX:
        return version
    digest = hashlib.sha256(run_id.encode()).hexdigest()[:8]
    return f"{version[: _TAG_MAX - 9].rstrip('-_.')}-{digest}"


def notebook_path(name: str) -> str:
    """An executed notebook in a run (``name`` without ``.ipynb``)."""
    return f"{NOTEBOOKS_DIR}{name}.ipynb"


def report_path(name: str) -> str:
    """A notebook's HTML report in a run."""
    return f"{REPORTS_DIR}{name}.html"


def split_path(part: str) -> str:
    """One part (train, val, test) of a run's split."""
    return f"{DATA_DIR}{part}.csv"


def run_ids(store: Store) -> list[str]:
    """Every run of the store that has a manifest, sorted (run ids made here sort by start time)."""
    return sorted({key.split("/")[1] for key in store.list(RUNS) if key.endswith(f"/{MANIFEST}")})


def to_json_bytes(data: Any) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=False, ensure_ascii=False) + "\n").encode("utf-8")


def read_json(store: Store, key: str) -> Any:
    try:
        return json.loads(store.read_bytes(key))
    except json.JSONDecodeError as exc:
        raise StoreError(f"{store.uri_for(key)} is not valid JSON: {exc}") from None


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def git_commit() -> dict[str, Any]:
    """The code's commit: $SENTIMENT_PIPELINE_GIT_COMMIT (baked into images) or the checkout's HEAD."""
    baked = os.environ.get("SENTIMENT_PIPELINE_GIT_COMMIT")
    if baked:
        return {"commit": baked, "dirty": None}
    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": bool(status.strip())}


def resolve_run_id(store: Store, run_id: str) -> str:
    """``latest`` means the run ``latest.json`` points at; anything else is taken as given."""
    if run_id != "latest":
        return check_run_id(run_id)
    if not store.exists(LATEST):
        raise StoreError(f"{store.uri_for(LATEST)} does not exist: no run has succeeded in this store yet")
    return check_run_id(read_json(store, LATEST)["run_id"])


def read_deployed_run_id(store: Store) -> str | None:
    """The run ``deployed.json`` names (local-mode Airflow's last deployment), or None when nothing was deployed."""
    return check_run_id(read_json(store, DEPLOYED)["run_id"]) if store.exists(DEPLOYED) else None


def serving_run(store: Store) -> tuple[str, str]:
    """The run to serve from this store (``register --run-id served``, ``make serve``) and why, in words.

    The promoted run ``deployed.json`` names when there is one; otherwise the newest succeeded run (``latest.json``),
    which is *not* a promotion: it may be a run the quality gate held, and the reason says so. Latest and served are
    different things; only deployed.json makes a run "served".
    """
    deployed = read_deployed_run_id(store)
    if deployed is not None:
        return deployed, f"the promoted run in {DEPLOYED}"
    latest = resolve_run_id(store, "latest")
    why = f"the newest succeeded run: nothing promoted yet (no {DEPLOYED})"
    gate_key = run_key(latest, GATE)
    if store.exists(gate_key):
        try:
            decision = read_json(store, gate_key).get("decision")
        except (StoreError, AttributeError):
            decision = None
        if decision == "hold":
            why += "; its quality gate said hold"
    return latest, why


def choose_run(store: Store, run_id: str) -> tuple[str, str | None]:
    """A run id, ``latest`` (latest.json) or ``served`` (``serving_run``), resolved, with why it was chosen (None:
    named explicitly)."""
    if run_id == "served":
        return serving_run(store)
    if run_id == "latest":
        return resolve_run_id(store, run_id), f"the newest succeeded run ({LATEST})"
    return check_run_id(run_id), None


def succeeded_manifest(store: Store, run_id: str) -> dict[str, Any]:
    """The run's manifest, if it says succeeded: the check every reader of a model or metrics makes first.

    Raises StoreError naming the run and its status otherwise (missing, running, failed, unreadable).
    """
    key = run_key(run_id, MANIFEST)
    if not store.exists(key):
        raise StoreError(f"run {run_id} not found in {store.uri}")
    manifest = read_json(store, key)
    status = manifest.get("status") if isinstance(manifest, dict) else None
    if status != SUCCEEDED:
        raise StoreError(f"run {run_id} has status {status!r}; only a succeeded run has a usable model and metrics")
    return manifest


def read_verified(store: Store, run_id: str, name: str, manifest: dict[str, Any]) -> bytes:
    """A file of a run's record, refused unless its bytes are those the manifest recorded (sha256 and size).

    A model file truncated or replaced after the run was registered, and the service then crash-looped; every
    reader of a record (register, package, predict, evaluate, the DAG's gate) reads through here.
    """
    recorded = {entry["path"]: entry for entry in manifest.get("files", [])}
    data = store.read_bytes(run_key(run_id, name))
    if name not in recorded:
        raise StoreError(f"run {run_id}: {name} is not in its manifest; the record was changed after the run")
    if sha256_bytes(data) != recorded[name]["sha256"]:
        raise StoreError(
            f"run {run_id}: {name} does not match its manifest ({len(data):,} bytes, sha256 {sha256_bytes(data)[:12]}; "
            f"recorded {recorded[name]['bytes']:,} bytes, {recorded[name]['sha256'][:12]}): the record was changed "
            "after the run; restore the file or run the pipeline again"
        )
    return data


def read_params(store: Store, run_id: str, manifest: dict[str, Any]) -> dict[str, Any]:
    """``params.json`` of a run, checked against its manifest, with its ``params`` as the run used them in effect:
    one recorded before a parameter existed gets the value that stood in for it (``PARAMS_STANDING_IN``) or the one
    it ran with (``PARAMS_BEFORE_THEY_EXISTED``), so reproductions and comparisons of old runs read true."""
    document = json.loads(read_verified(store, run_id, PARAMS, manifest))
    params = dict(document.get("params") or {})
    for added, instead in PARAMS_STANDING_IN.items():
        if added not in params and instead in params:
            params[added] = params[instead]
    if params:  # a record with parameters at all
        for added, value in PARAMS_BEFORE_THEY_EXISTED.items():
            params.setdefault(added, value)
    document["params"] = params
    return document


def read_metrics(store: Store, run_id: str) -> dict[str, Any]:
    """``metrics.json`` of a succeeded run, checked against its manifest."""
    manifest = succeeded_manifest(store, run_id)
    return json.loads(read_verified(store, run_id, METRICS, manifest))


def metrics_document(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """``documents.metrics_document``, where train notebooks recorded before it moved call it: a ``reproduce`` run
    executes a run's recorded notebooks."""
    from .documents import metrics_document as build

    return build(*args, **kwargs)


def edited_notebooks(manifest: dict[str, Any]) -> list[str]:
    """The notebooks a run's manifest marks as edited (none for records made before runs recorded their notebooks)."""
    notebooks = manifest.get("notebooks") if isinstance(manifest, dict) else None
    if not isinstance(notebooks, dict):
        return []
    return sorted(name for name, entry in notebooks.items() if isinstance(entry, dict) and entry.get("edited"))


def download_model(store: Store, run_id: str, dest: Path) -> Path:
    """Copy ``runs/<run_id>/model/*`` of a succeeded run to ``dest``, each file checked against the manifest."""
    manifest = succeeded_manifest(store, run_id)
    prefix = run_key(run_id, MODEL_DIR)
    keys = store.list(prefix)
    if not keys:
        raise StoreError(f"run {run_id} has no model files under {store.uri_for(prefix)}")
    names = [key[len(run_key(run_id)) :] for key in keys]  # model/...: as the manifest names them
    recorded = sorted(e["path"] for e in manifest.get("files", []) if e["path"].startswith(MODEL_DIR))
    missing = [name for name in recorded if name not in names]
    if missing:
        raise StoreError(f"run {run_id}: {', '.join(missing)} recorded in its manifest but missing from the store")
    for name in names:
        target = dest / name[len(MODEL_DIR) :]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(read_verified(store, run_id, name, manifest))
    return dest
