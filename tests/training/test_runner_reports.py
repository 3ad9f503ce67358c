"""What the runner hands the HTML reports: run, data, start, status and parameters, and whether to keep the code.

In process, on a store holding a small hand-made executed notebook (the real runs are in test_runner.py); and what
a failing run writes first.
"""

import json
import time

import nbformat

from sentiment_pipeline import params
from sentiment_pipeline.errors import StoreError
from sentiment_pipeline.records.store import LocalStore
from sentiment_pipeline.training.runner import _record_failure, _render_reports, _Run

RUN_ID = "20261204T160656Z-696a2c"
DATA = {"name": "tweets.csv", "sha256": "f" * 64, "rows": 600}


def _run_with_notebook(tmp_path, report_code=False) -> _Run:
    store = LocalStore(tmp_path / "store")
    run = _Run(store, RUN_ID, progress=lambda message: None)
    run.data_info, run.report_code = DATA, report_code
    store.write_bytes(run.key("notebooks/preprocess.ipynb"), nbformat.writes(_notebook()).encode())
    return run


def _notebook():
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_markdown_cell("# Data report"),
        nbformat.v4.new_code_cell(
            'data_path = "/tmp/sentiment-run-x/input/tweets.csv"', metadata={"tags": ["parameters"]}
        ),
        nbformat.v4.new_code_cell(
            "print(unique_profile_variable)",
            outputs=[nbformat.v4.new_output("stream", name="stdout", text="600 rows\n")],
        ),
    ]
    return notebook


def _report(tmp_path) -> str:
    return (tmp_path / "store" / "runs" / RUN_ID / "reports" / "preprocess.html").read_text()


def test_a_failed_runs_report_says_where_it_failed_and_shows_its_parameters(tmp_path):
    run = _run_with_notebook(tmp_path)
    values = {**params.DEFAULTS, "split_seed": 7}

    _render_reports(run, ["preprocess", "train"], values, "failed in train: cell 9: ValueError: boom")

    page = _report(tmp_path)
    assert f"<title>Data report · run {RUN_ID}</title>" in page
    assert "tweets.csv · 600 rows · sha256 ffffffffffff" in page
    assert "failed in train: cell 9: ValueError: boom" in page
    assert '<th>split_seed</th><td><span class="report-changed">7</span>' in page and "<th>epochs</th>" not in page
    assert "unique_profile_variable" not in page and "/tmp/" not in page and "600 rows" in page
    assert "reports/preprocess.html" in run.files and "reports/train.html" not in run.files  # train never ran


def test_report_code_keeps_the_code_but_not_the_parameter_cells(tmp_path):
    run = _run_with_notebook(tmp_path, report_code=True)
    _render_reports(run, ["preprocess"], params.DEFAULTS, "succeeded")
    page = _report(tmp_path)
    assert "unique_profile_variable" in page and "/tmp/" not in page and "report-ok" in page


class _FullForReports(LocalStore):
    """A store that takes small files but no report: a disk that filled up while the run failed."""

    def write_bytes(self, key: str, data: bytes) -> None:
        if "/reports/" in key:
            raise StoreError(f"cannot write {self.uri_for(key)}: No space left on device")
        super().write_bytes(key, data)


def test_a_failing_run_writes_its_failed_manifest_first_and_a_store_error_after_it_is_one_line(tmp_path):
    """The reports of a failed run used to be rendered before its failed manifest: a store error there skipped the
    manifest, and the record said `running` for good."""
    lines: list[str] = []
    for store, reports_written in ((_FullForReports(tmp_path / "full"), False), (LocalStore(tmp_path / "ok"), True)):
        run = _Run(store, RUN_ID, progress=lines.append)
        run.data_info = DATA
        run.claim()
        store.write_bytes(run.key("notebooks/preprocess.ipynb"), nbformat.writes(_notebook()).encode())
        run.step = "train"

        _record_failure(
            run, ["preprocess", "train"], params.DEFAULTS, "cell 9: ValueError: boom", time.monotonic() + 30
        )

        manifest = json.loads(store.read_bytes(run.key("manifest.json")))
        assert manifest["status"] == "failed" and manifest["failed_step"] == "train"
        assert manifest["error"] == "cell 9: ValueError: boom"
        listed = {f["path"] for f in manifest["files"]}
        assert "notebooks/preprocess.ipynb" in listed
        assert ("reports/preprocess.html" in listed) is reports_written
        assert store.exists(run.key("reports/preprocess.html")) is reports_written
    assert lines == [
        f"  could not render the reports: cannot write {tmp_path}/full/runs/{RUN_ID}/reports/preprocess.html: "
        "No space left on device"
    ]
