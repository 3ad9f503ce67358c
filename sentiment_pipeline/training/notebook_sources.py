"""Where the pipeline's source notebooks come from, and whether they are the ones the code carries.

The notebooks live at the top of the repository (``notebooks/``), where their authors open them in Jupyter; the
wheel carries the same files as ``sentiment_pipeline/notebooks/`` (pyproject.toml maps that one folder). A run
records, for each notebook it executed, its sha256, where it came from and whether it was *edited*: its cells differ
from the notebook of the same name that the code carries (docs/run-record.md defines it).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from ..errors import ConfigError

ENV = "SENTIMENT_PIPELINE_NOTEBOOKS"
PACKAGE = "sentiment-pipeline"
PACKAGED = Path(__file__).resolve().parents[1] / "notebooks"  # sentiment_pipeline/notebooks/: an installed wheel
CHECKOUT = Path(__file__).resolve().parents[2] / "notebooks"  # notebooks/ at the top of a source checkout
INJECTED_TAG = "injected-parameters"  # the cell papermill adds to an executed notebook


@dataclass(frozen=True)
class NotebookFolder:
    path: Path
    origin: str  # "checkout", "package", "SENTIMENT_PIPELINE_NOTEBOOKS" or "run <id>" (a reproduction)


def locate(required: str = "preprocess.ipynb") -> NotebookFolder:
    """The folder to execute notebooks from: $SENTIMENT_PIPELINE_NOTEBOOKS (to try edited copies elsewhere), else the
    wheel's own copy, else the checkout's ``notebooks/`` (an editable install runs what its author edits)."""
    configured = os.environ.get(ENV)
    candidates = (
        [NotebookFolder(Path(configured), ENV)]
        if configured
        else [NotebookFolder(PACKAGED, "package"), NotebookFolder(CHECKOUT, "checkout")]
    )
    for candidate in candidates:
        if (candidate.path / required).is_file():
            return candidate
    raise ConfigError(
        f"pipeline notebooks not found in {', '.join(str(c.path) for c in candidates)}; set {ENV} to their folder"
    )


def notebooks_dir() -> Path:
    return locate().path


def cells_sha256(raw: bytes) -> str | None:
    """sha256 of what an author writes: each cell's type and source, in order. Outputs, execution counts, metadata
    and papermill's injected-parameters cell do not count, so an executed copy hashes like its source. None for a
    file that is not a notebook."""
    try:
        cells = json.loads(raw)["cells"]
        written = [
            [cell["cell_type"], "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]]
            for cell in cells
            if INJECTED_TAG not in cell.get("metadata", {}).get("tags", [])
        ]
    except (ValueError, KeyError, TypeError):
        return None
    return hashlib.sha256(json.dumps(written, ensure_ascii=False).encode("utf-8")).hexdigest()


def _git(*args: str) -> subprocess.CompletedProcess[bytes] | None:
    try:
        return subprocess.run(["git", *args], cwd=CHECKOUT.parent, capture_output=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None


def _recorded_in_wheel(name: str) -> str | None:
    """The sha256 (hex) the installed wheel's RECORD gives the packaged notebook, if the package is a wheel install."""
    try:
        files = metadata.files(PACKAGE) or []
    except metadata.PackageNotFoundError:
        return None
    for file in files:
        if file.as_posix() == f"sentiment_pipeline/notebooks/{name}" and file.hash and file.hash.mode == "sha256":
            return base64.urlsafe_b64decode(file.hash.value + "=" * (-len(file.hash.value) % 4)).hex()
    return None


def reference(name: str) -> tuple[bytes | None, str, bool | None]:
    """The notebook ``name`` as the code carries it, what that is, and what to call the notebook when there is no such
    copy. The installed package's copy (checked against the wheel's RECORD), else the checked-out commit's
    ``notebooks/<name>``. A packaged copy changed after install, or a notebook the commit lacks, is edited; with
    neither a package copy nor git, whether it was edited is unknown (None)."""
    packaged = PACKAGED / name
    if packaged.is_file():
        data = packaged.read_bytes()
        recorded = _recorded_in_wheel(name)
        if recorded and recorded != hashlib.sha256(data).hexdigest():
            return None, f"the installed package's copy, changed after install ({packaged})", True
        return data, f"package {PACKAGE} {_version()}", None
    if CHECKOUT.is_dir():
        head = _git("rev-parse", "HEAD")
        if head:
            commit = head.stdout.decode().strip()[:12]
            shown = _git("show", f"HEAD:notebooks/{name}")
            if shown:
                return shown.stdout, f"git {commit}:notebooks/{name}", None
            return None, f"git {commit}, which has no notebooks/{name}", True
    return None, "nothing: no packaged copy and no git checkout", None


def _version() -> str:
    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        return "(not installed)"


def describe(folder: NotebookFolder, names: list[str] | tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """``manifest.json``'s ``notebooks``: for each source notebook its sha256, whether it was edited, where it came
    from and what it was compared with (docs/run-record.md)."""
    described: dict[str, dict[str, Any]] = {}
    for name in names:
        file_name = f"{name}.ipynb"
        data = (folder.path / file_name).read_bytes()
        carried, compared_with, edited = reference(file_name)
        if carried is not None:
            edited = cells_sha256(data) != cells_sha256(carried)
        described[file_name] = {
            "sha256": hashlib.sha256(data).hexdigest(),
            "cells_sha256": cells_sha256(data),
            "edited": edited,
            "origin": folder.origin,
            "path": str(folder.path / file_name),
            "compared_with": compared_with,
        }
    return described
