"""The notebooks as their authors meet them: committed clean, and Run All working in place in notebooks/."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import nbformat
import psutil
import pytest
from nbstripout import strip_output

from sentiment_pipeline.training.notebook_execution import (
    COMPARISON_NOTEBOOK,
    MONITOR_NOTEBOOK,
    PIPELINE_NOTEBOOKS,
    SWEEP_NOTEBOOK,
)
from support.project import BIN, NOTEBOOKS, ROOT, free_port, wait_for_port

ALL = sorted(NOTEBOOKS.glob("*.ipynb"))


def test_the_notebooks_are_the_pipelines():
    assert {p.stem for p in ALL} == {*PIPELINE_NOTEBOOKS, COMPARISON_NOTEBOOK, MONITOR_NOTEBOOK, SWEEP_NOTEBOOK}
    assert not (ROOT / "sentiment_pipeline" / "training" / "notebooks").exists(), "a second copy in the package"


@pytest.mark.parametrize("path", ALL, ids=[p.name for p in ALL])
def test_committed_notebooks_carry_no_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            assert not cell.outputs, f"{path.name} cell {index} has outputs: run `make strip-notebooks`"
            assert cell.execution_count is None, f"{path.name} cell {index} has an execution count"
    # and the ecosystem's tool finds nothing to strip (its defaults: outputs, counts, transient metadata)
    stripped = strip_output(
        nbformat.read(path, as_version=4), keep_output=False, keep_count=False, keep_id=True, extra_keys=[]
    )
    assert json.loads(nbformat.writes(stripped)) == json.loads(path.read_text()), "run `make strip-notebooks`"


@pytest.mark.parametrize("path", ALL, ids=[p.name for p in ALL])
def test_each_notebook_has_one_parameters_cell_first_among_code(path):
    code = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    tagged = [i for i, c in enumerate(code) if "parameters" in c.metadata.get("tags", [])]
    assert tagged == [0], f"{path.name}: papermill needs one cell tagged 'parameters', before any other code"


def test_lint_covers_the_notebooks():
    makefile = (ROOT / "Makefile").read_text()
    assert "ruff format --check sentiment_pipeline notebooks" in makefile
    done = subprocess.run(
        [str(BIN / "ruff"), "check", "--no-cache", str(NOTEBOOKS)], capture_output=True, text=True, cwd=ROOT
    )
    assert done.returncode == 0 and "All checks passed" in done.stdout, done.stdout
    # ruff reads notebooks: an unused import in a copy is reported (so a clean result above means something)
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "probe.ipynb"
        notebook = nbformat.read(NOTEBOOKS / "preprocess.ipynb", as_version=4)
        notebook.cells.append(nbformat.v4.new_code_cell("import os"))
        nbformat.write(notebook, copy)
        probe = subprocess.run([str(BIN / "ruff"), "check", "--no-cache", "--isolated", str(copy)], capture_output=True)
        assert probe.returncode == 1 and b"F401" in probe.stdout


# ---- Run All in place -----------------------------------------------------------------------------------------------
SCRATCH = ROOT / "artifacts" / "scratch"  # where the notebooks' defaults write (git-ignored)
SAMPLE = ROOT / "data" / "sample.csv"  # what `make run` writes and the preprocess notebook's default reads


def _git_status(*extra: str) -> set[str]:
    out = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all", *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {line for line in out.splitlines() if "__pycache__" not in line}


def _run_all(path: Path) -> nbformat.NotebookNode:
    """What Jupyter's Run All does: every cell in order, in a kernel whose working directory is the notebook's
    folder, with no parameters injected."""
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    return notebook


@pytest.mark.slow
def test_run_all_works_in_place_on_the_defaults_and_writes_only_ignored_places(tmp_path):
    made_sample = not SAMPLE.exists()
    if made_sample:  # `make run` writes it; a fresh clone's test run may not have
        subprocess.run(
            [str(BIN / "sentiment-pipeline"), "sample", "--out", str(SAMPLE)], check=True, capture_output=True
        )
    kept = tmp_path / "kept-scratch"
    if SCRATCH.exists():  # an author's own scratch results: put back afterwards
        shutil.move(SCRATCH, kept)
    tracked_before = _git_status()
    ignored_before = _git_status("--ignored=matching")
    try:
        for name in PIPELINE_NOTEBOOKS:
            executed = _run_all(NOTEBOOKS / f"{name}.ipynb")
            errors = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
            assert not errors, f"{name}: {errors[0]['ename']}: {errors[0]['evalue']}"
        assert (SCRATCH / "data" / "test.csv").is_file()
        assert (SCRATCH / "model" / "model.onnx").is_file()
        metrics = json.loads((SCRATCH / "out" / "metrics.json").read_text())
        assert 0 < metrics["model"]["macro_f1"] <= 1
        # nothing tracked changed and nothing untracked appeared; what is new is ignored and under the scratch folder
        assert _git_status() == tracked_before
        new_ignored = _git_status("--ignored=matching") - ignored_before
        outside = [line for line in new_ignored if not line.startswith(("!! artifacts/", "!! data/"))]
        assert not outside, outside
        assert not list((ROOT / "sentiment_pipeline").rglob("*.csv")) and not list(NOTEBOOKS.rglob("*.json"))
    finally:
        shutil.rmtree(SCRATCH, ignore_errors=True)
        if kept.exists():
            shutil.move(kept, SCRATCH)
        for folder in (SCRATCH.parent, SAMPLE.parent):  # leave the checkout as the test found it
            if folder.exists() and not any(folder.iterdir()):
                folder.rmdir()
        if made_sample:
            SAMPLE.unlink(missing_ok=True)
            if not any(SAMPLE.parent.iterdir()):
                SAMPLE.parent.rmdir()


@pytest.mark.slow
def test_make_lab_opens_the_notebooks_with_the_project_environment_as_kernel(tmp_path):
    port, token = free_port(), os.urandom(12).hex()
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "JUPYTER_CONFIG_DIR": str(tmp_path)}
    made_sample = not SAMPLE.exists()
    lab = subprocess.Popen(
        [
            "make",
            "--no-print-directory",
            "lab",
            f"LAB_ARGS=--no-browser --port={port} --ServerApp.ip=127.0.0.1 --IdentityProvider.token={token}",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for_port(port, "jupyter lab", timeout=120)

        def get(path: str):
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"token {token}"}
            )
            deadline = time.monotonic() + 30
            while True:
                try:
                    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 (loopback)
                        return json.load(answer)
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.5)

        listed = {item["name"] for item in get("/api/contents/")["content"]}
        assert {
            f"{name}.ipynb" for name in (*PIPELINE_NOTEBOOKS, COMPARISON_NOTEBOOK, MONITOR_NOTEBOOK, SWEEP_NOTEBOOK)
        } <= listed
        assert get("/api/kernelspecs")["default"] == "python3"
        started = get_post(port, token, "/api/kernels", {"name": "python3"})
        kernels = [
            p
            for p in psutil.Process(lab.pid).children(recursive=True)
            if any(started["id"] in part for part in p.cmdline())
        ]
        assert kernels and Path(kernels[0].cmdline()[0]).resolve() == (BIN / "python").resolve(), "the .venv kernel"
        assert SAMPLE.is_file(), "make lab writes the sample the notebooks' defaults read"
    finally:
        os.killpg(lab.pid, 15)
        lab.wait(timeout=30)
        if made_sample:
            SAMPLE.unlink(missing_ok=True)
            if SAMPLE.parent.exists() and not any(SAMPLE.parent.iterdir()):
                SAMPLE.parent.rmdir()


def get_post(port: int, token: str, path: str, body: dict) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310 (loopback)
        return json.load(answer)
