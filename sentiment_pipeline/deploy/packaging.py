"""``sentiment-pipeline package``: a run's model -> BentoML model store -> bento -> Kaniko build context.

Where a Docker daemon exists, ``bentoml containerize`` builds the image from the bento. In AWS there is
none: the bento (its generated ``env/docker/Dockerfile`` and its models) is uploaded as a ``tar.gz`` build
context next to the run record, and a Kaniko Fargate task builds and pushes the image from it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

from ..records.record import BENTO_CONTEXT, run_key
from ..records.store import Store, StoreError
from .registry import OlderRunExporter, bento_version, register_run

BENTO_NAME = "tweet-sentiment"  # bentofile.yaml's name
DOCKERFILE = "env/docker/Dockerfile"  # inside a bento (and so inside the build context)


def local_executable(name: str) -> str:
    """A console script of this environment (next to the running Python), else from PATH."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def context_key(run_id: str) -> str:
    """Store key of the bento build context that ``sentiment-pipeline package`` uploads for Kaniko."""
    return run_key(run_id, BENTO_CONTEXT)


def build_bento(model_tag: str, version: str, project_dir: Path) -> tuple[str, Path]:
    """``bentoml build`` of the project's bentofile with the given model, as ``tweet-sentiment:<version>``.

    Idempotent: an existing bento of that version is reused (a retried task must not fail on it).
    """
    import bentoml

    tag = f"{BENTO_NAME}:{version}"
    try:
        return tag, Path(bentoml.get(tag).path)
    except bentoml.exceptions.NotFound:
        pass
    if not (project_dir / "bentofile.yaml").is_file() or not (project_dir / "service.py").is_file():
        raise StoreError(f"{project_dir} has no bentofile.yaml and service.py: pass --project-dir")
    env = {**os.environ, "SENTIMENT_MODEL_TAG": model_tag, "BENTOML_DO_NOT_TRACK": "true"}
    result = subprocess.run(
        [local_executable("bentoml"), "build", str(project_dir), "--version", version, "-o", "tag"],
        cwd=project_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if result.returncode != 0:
        raise RuntimeError(f"bentoml build failed ({result.returncode}):\n{(result.stderr or result.stdout)[-3000:]}")
    return tag, Path(bentoml.get(tag).path)


def context_tarball(tag: str) -> bytes:
    """The bento as a gzip tarball build context: bento at the root, its models resolved into ``models/``.

    ``bentoml.export_bento`` copies the referenced models from the model store, as ``bentoml containerize``
    does; a plain tar of the bento folder would lack them (a bento only names its models).
    """
    import tempfile

    import bentoml

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(bentoml.export_bento(tag, str(Path(tmp) / Path(BENTO_CONTEXT).name), output_format="gz"))
        with tarfile.open(path, "r:gz") as tar:
            names = {name.removeprefix("./") for name in tar.getnames()}
        if DOCKERFILE not in names or not any(n.startswith("models/") for n in names):
            raise StoreError(f"bento {tag} exported without {DOCKERFILE} or models/")
        return path.read_bytes()


def package_run(
    store: Store, run_id: str, project_dir: str | Path = ".", export_older_run: OlderRunExporter | None = None
) -> dict[str, Any]:
    """Register the run (``export_older_run``: as ``register_run`` takes it), build its bento and upload the build
    context; returns tags and the context URI."""
    registered = register_run(store, run_id, export_older_run)
    run_id = registered["run_id"]
    version = bento_version(run_id)
    tag, _ = build_bento(registered["tag"], version, Path(project_dir).resolve())
    key = context_key(run_id)
    store.write_bytes(key, context_tarball(tag))
    return {
        "run_id": run_id,
        "model_tag": registered["tag"],
        "bento_tag": tag,
        "version": version,
        "context_uri": store.uri_for(key),
        "macro_f1": registered["metadata"]["macro_f1"],
    }
