"""Where the source notebooks come from, and when a run's notebooks count as edited (docs/run-record.md)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import nbformat
import pytest

from sentiment_pipeline.errors import ConfigError
from sentiment_pipeline.training import notebook_sources
from sentiment_pipeline.training.notebook_sources import NotebookFolder, cells_sha256, describe, locate
from support.project import NOTEBOOKS, ROOT


def _committed(name: str) -> bytes:
    return subprocess.run(["git", "show", f"HEAD:notebooks/{name}"], cwd=ROOT, capture_output=True, check=True).stdout


@pytest.fixture
def committed_copy(tmp_path) -> Path:
    """The notebooks exactly as the checked-out commit has them, in a folder of their own."""
    folder = tmp_path / "notebooks"
    folder.mkdir()
    for name in ("preprocess.ipynb", "train.ipynb"):
        (folder / name).write_bytes(_committed(name))
    return folder


def test_locate_prefers_the_variable_then_the_package_then_the_checkout(monkeypatch, committed_copy, tmp_path):
    monkeypatch.delenv(notebook_sources.ENV, raising=False)
    assert locate() == NotebookFolder(NOTEBOOKS, "checkout")  # an editable install runs what its author edits
    monkeypatch.setenv(notebook_sources.ENV, str(committed_copy))
    assert locate() == NotebookFolder(committed_copy, notebook_sources.ENV)
    monkeypatch.setenv(notebook_sources.ENV, str(tmp_path / "nowhere"))
    with pytest.raises(ConfigError, match="set SENTIMENT_PIPELINE_NOTEBOOKS"):
        locate()


def test_an_executed_copy_hashes_like_its_source_and_an_edit_does_not(committed_copy):
    source = (committed_copy / "train.ipynb").read_bytes()
    executed = nbformat.reads(source.decode(), as_version=4)
    executed.cells.insert(2, nbformat.v4.new_code_cell("epochs = 1", metadata={"tags": ["injected-parameters"]}))
    for index, cell in enumerate(executed.cells):
        if cell.cell_type == "code":
            cell.execution_count = index
            cell.outputs = [nbformat.v4.new_output("stream", text="noise\n")]
    executed.metadata["papermill"] = {"duration": 3.2}
    assert cells_sha256(nbformat.writes(executed).encode()) == cells_sha256(source)

    executed.cells[-1].source += "\nprint('an edit')"
    assert cells_sha256(nbformat.writes(executed).encode()) != cells_sha256(source)
    assert cells_sha256(b"not a notebook") is None


def test_edited_means_the_cells_differ_from_the_checked_out_commit(committed_copy):
    notebook = nbformat.read(committed_copy / "train.ipynb", as_version=4)
    notebook.cells.append(nbformat.v4.new_markdown_cell("A note of mine."))
    nbformat.write(notebook, committed_copy / "train.ipynb")

    described = describe(NotebookFolder(committed_copy, "mine"), ["preprocess", "train"])

    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    assert described["preprocess.ipynb"]["edited"] is False and described["train.ipynb"]["edited"] is True
    for name, entry in described.items():
        assert entry["origin"] == "mine" and entry["path"] == str(committed_copy / name)
        assert entry["compared_with"] == f"git {head[:12]}:notebooks/{name}"
        assert len(entry["sha256"]) == 64 and entry["sha256"] != entry["cells_sha256"]


def test_a_notebook_the_commit_lacks_is_edited_and_the_package_copy_is_the_reference_when_installed(
    committed_copy, monkeypatch, tmp_path
):
    (committed_copy / "mine.ipynb").write_bytes(_committed("train.ipynb"))
    entry = describe(NotebookFolder(committed_copy, "mine"), ["mine"])["mine.ipynb"]
    assert entry["edited"] is True and "has no notebooks/mine.ipynb" in entry["compared_with"]

    packaged = tmp_path / "site-packages" / "sentiment_pipeline" / "notebooks"  # as a wheel lays them out
    packaged.mkdir(parents=True)
    (packaged / "train.ipynb").write_bytes(_committed("train.ipynb"))
    monkeypatch.setattr(notebook_sources, "PACKAGED", packaged)
    entry = describe(NotebookFolder(committed_copy, "mine"), ["train"])["train.ipynb"]
    assert entry["edited"] is False and entry["compared_with"].startswith("package sentiment-pipeline ")
    (packaged / "train.ipynb").write_text('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    assert describe(NotebookFolder(committed_copy, "mine"), ["train"])["train.ipynb"]["edited"] is True
