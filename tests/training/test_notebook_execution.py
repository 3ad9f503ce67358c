"""HTML reports for readers (notebook_execution.render_html, reports.py) on a small hand-made executed notebook;
papermill's I/O as the runner installs it."""

import re

import nbformat
import pytest

from sentiment_pipeline import params
from sentiment_pipeline.errors import StoreError
from sentiment_pipeline.training.notebook_execution import _notebook_io, render_html
from sentiment_pipeline.training.reports import ReportHeader, run_header, text_table
from support.disk import fill, small_disk

RUN_ID = "20261204T160656Z-696a2c"
SHA = "a67ca13c288d7c248265e1757f55c05e0ca288be45383f029b88d7e0fd6d9dbc"
DATA = {"uri": "data/sample.csv", "name": "sample.csv", "sha256": SHA, "rows": 1500}
CODE = "report_answer_variable = 41 + 1\nprint(report_answer_variable)"  # an identifier only the code holds


def _executed_notebook(path):
    """What papermill leaves: the author's parameters cell, its injected copy with the runner's temp paths, code with
    and without output."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Training report\n\nTrains the model."),
        nbformat.v4.new_code_cell(
            'split_dir = "../artifacts/scratch/data"\nepochs = 2', metadata={"tags": ["parameters"]}
        ),
        nbformat.v4.new_code_cell(
            'split_dir = "/tmp/sentiment-run-z2d9xo2k/data"\nepochs = 7', metadata={"tags": ["injected-parameters"]}
        ),
        nbformat.v4.new_code_cell("import json_module_only_in_code"),  # no output
        nbformat.v4.new_markdown_cell("## Model"),
        nbformat.v4.new_code_cell(CODE, outputs=[nbformat.v4.new_output("stream", name="stdout", text="42\n")]),
    ]
    nbformat.write(nb, path)
    return path


def _header(status="succeeded", overrides=None):
    return run_header(
        "train",
        RUN_ID,
        data=DATA,
        params={**params.DEFAULTS, **(overrides or {})},
        started_at="2026-12-04T16:06:56+00:00",
        status=status,
    )


@pytest.fixture
def notebook(tmp_path):
    return _executed_notebook(tmp_path / "train.ipynb")


def _title(page: str) -> str:
    return re.search(r"<title>(.*?)</title>", page, re.S).group(1).strip()


def test_the_report_opens_with_a_header_naming_the_report_run_data_date_status_and_parameters(notebook):
    page = render_html(str(notebook), _header(overrides={"epochs": 7}))

    assert _title(page) == f"Training report · run {RUN_ID}"
    header = page[page.index('class="report-header"') :]
    header = header[: header.index("Trains the model.")]  # the header comes before the notebook's own text
    assert "<h1>Training report</h1>" in header and RUN_ID in header
    assert "sample.csv · 1,500 rows · sha256 a67ca13c288d" in header and SHA not in page  # 12 characters of it
    assert "2026-12-04 16:06 UTC" in header
    assert '<span class="report-status report-ok">succeeded</span>' in header
    # the train notebook's user-facing parameters with their values, a changed one marked with its default
    for parameter in params.PARAMETERS:
        assert (f"<th>{parameter.name}</th>" in header) == (params.TRAIN in parameter.notebooks), parameter.name
    assert '<th>epochs</th><td><span class="report-changed">7</span>' in header
    assert f"(default {params.DEFAULTS['epochs']})" in header
    assert "<th>seed</th><td>42</td>" in header
    assert page.count("Training report</h1>") == 1  # the notebook's own title gave way to the header's


def test_a_failed_run_says_where_it_failed_in_red(notebook):
    page = render_html(str(notebook), _header(status="failed in train: cell 6: ValueError: boom"))
    assert '<span class="report-status report-failed">failed in train: cell 6: ValueError: boom</span>' in page


@pytest.mark.parametrize("show_code", [False, True])
def test_code_is_hidden_unless_asked_for_and_the_parameter_cells_never_appear(notebook, show_code):
    before = notebook.read_bytes()

    page = render_html(str(notebook), _header(), show_code=show_code)

    assert ("report_answer_variable" in page) == show_code
    assert ("json_module_only_in_code" in page) == show_code  # a cell with no output is dropped with its code
    assert "<pre>42\n</pre>" in page and '<h2 id="Model">' in page  # outputs and markdown stay
    for parameter_cell_text in ("split_dir", "/tmp/", "sentiment-run-", "../artifacts/scratch"):
        assert parameter_cell_text not in page, parameter_cell_text
    assert notebook.read_bytes() == before  # the executed notebook in the record stays as executed


def test_without_a_header_the_page_is_named_after_the_notebooks_title(notebook):
    page = render_html(str(notebook))
    assert _title(page) == "Training report" and 'class="report-header"' not in page
    assert "/tmp/" not in page and "report_answer_variable" not in page


def test_the_header_escapes_what_it_shows():
    header = ReportHeader("run <b>x</b>", (("Data", "<script>alert(1)</script>"),), title="A & B")
    html = header.html()
    assert "<script>" not in html and "&lt;script&gt;" in html and "A &amp; B" in html
    assert header.page_title == "A & B · run <b>x</b>"  # escaped by the template, as the page's <title>


def test_the_evaluation_file_shows_in_the_report_of_the_notebook_that_scores_it():
    eval_data = {"name": "eval.csv", "sha256": "0123456789abcdef", "rows": 60}
    common = {"data": DATA, "params": params.DEFAULTS, "started_at": None, "status": "succeeded"}
    assert ("Evaluation file", "eval.csv · 60 rows · sha256 0123456789ab") in run_header(
        "train", RUN_ID, eval_data=eval_data, **common
    ).facts
    assert all(
        label != "Evaluation file" for label, _ in run_header("preprocess", RUN_ID, eval_data=eval_data, **common).facts
    )


def test_text_tables_align_texts_left_and_keep_numbers_formatted():
    import pandas as pd

    styler = text_table(pd.DataFrame({"text": ["hello there"], "confidence": [0.96912345]}), {"confidence": "{:.3f}"})
    html = styler.to_html()
    assert "0.969<" in html and "0.969123" not in html
    assert "text-align: left" in html and "row0" in html and "level0_row0" not in html  # no row numbers


def test_a_failed_notebooks_report_ends_at_the_failed_cell_which_the_status_links_to(tmp_path):
    """Papermill puts a banner above the title and a marker before the failed cell; the sections after it never ran."""
    nb = nbformat.read(_executed_notebook(tmp_path / "train.ipynb"), as_version=4)
    banner = (
        '<span style="color:red">An Exception was encountered at <a href="#papermill-error-cell">In [5]</a>.</span>'
    )
    marker = (
        '<span id="papermill-error-cell" style="color:red">Execution using papermill encountered an exception</span>'
    )
    error = nbformat.v4.new_output("error", ename="ValueError", evalue="boom", traceback=["ValueError: boom"])
    nb.cells.insert(0, nbformat.v4.new_markdown_cell(banner, metadata={"tags": ["papermill-error-cell-tag"]}))
    nb.cells += [
        nbformat.v4.new_markdown_cell(marker, metadata={"tags": ["papermill-error-cell-tag"]}),
        nbformat.v4.new_code_cell('raise ValueError("boom")', outputs=[error]),
        nbformat.v4.new_markdown_cell("## Section that never ran"),
        nbformat.v4.new_code_cell("never_ran()"),
    ]
    nbformat.write(nb, tmp_path / "failed.ipynb")

    page = render_html(str(tmp_path / "failed.ipynb"), _header(status="failed in train: cell 5: ValueError: boom"))

    assert _title(page) == f"Training report · run {RUN_ID}"  # the banner above it is not the notebook's title
    assert 'report-failed">failed in train: cell 5: ValueError: boom</span> <a href="#papermill-error-cell">' in page
    assert page.count('id="papermill-error-cell"') == 1 and "This cell failed, and the run stopped" in page
    assert "ValueError: boom" in page and "<pre>42\n</pre>" in page  # the error and what ran before it
    assert "An Exception was encountered" not in page and "Execution using papermill" not in page
    assert "never ran" not in page.replace("did not run", "") and "did not run" in page


# ---- the console: quiet by default, readable when a cell fails -----------------------------------------------------
def test_a_failed_cell_is_shown_by_its_source_and_traceback_tails_without_colour_codes():
    from papermill.exceptions import PapermillExecutionError

    from sentiment_pipeline.training.notebook_execution import failure_details

    source = "\n".join(f"step_{i} = {i}" for i in range(12)) + "\nraise ValueError('bad')"
    trace = ["\x1b[0;31m---------\x1b[0m", "\x1b[0;31mValueError\x1b[0m: bad"]
    error = PapermillExecutionError(7, 9, source, "ValueError", "bad", trace)
    shown = failure_details(error, lines=3)
    assert shown[0] == "cell 9 (last 3 of 13 lines):"
    assert shown[1:4] == ["    step_10 = 10", "    step_11 = 11", "    raise ValueError('bad')"]
    assert shown[4] == "traceback (tail):" and shown[-1] == "    ValueError: bad"
    assert not any("\x1b" in line for line in shown)
    assert failure_details(RuntimeError("not a cell")) == []


@pytest.mark.parametrize(
    ("line", "dropped"),
    [
        ("<pandas.io.formats.style.Styler at 0x7fd6a136fe10>", True),
        ("<IPython.core.display.Markdown object>", True),
        ("<Figure size 1100x360 with 2 Axes>", True),
        ("1,500 usable rows, 0 empty texts dropped", False),
        ("<b>bold</b> text", False),
    ],
)
def test_verbose_logs_drop_object_reprs_and_keep_text(line, dropped):
    import logging

    from sentiment_pipeline.training.notebook_execution import _not_an_object_repr

    record = logging.LogRecord("papermill", logging.INFO, __file__, 1, line, None, None)
    assert _not_an_object_repr(record) is not dropped


def test_papermill_logs_cells_only_when_verbose():
    import logging

    from sentiment_pipeline.training.notebook_execution import _configure_papermill_log

    _configure_papermill_log(False)
    assert not logging.getLogger("papermill").isEnabledFor(logging.INFO)
    _configure_papermill_log(True)
    assert logging.getLogger("papermill").isEnabledFor(logging.INFO)
    _configure_papermill_log(False)


def test_papermill_writes_local_notebooks_whole_or_not_at_all_and_a_full_disk_is_one_store_error(tmp_path):
    """Papermill saves the executed notebook after every cell. Its own local handler rewrote the file in place, so a
    full disk left a cut-off notebook (invalid JSON) in the record; the runner's handler writes a temporary file
    beside it and renames it."""
    from papermill.iorw import load_notebook_node, write_ipynb

    _notebook_io()  # what every execute() installs
    with small_disk(tmp_path / "disk", size_kb=512) as disk:
        target = disk / "train.ipynb"
        before = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('first cells')")])
        write_ipynb(before, str(target))
        fill(disk, leave_bytes=16 * 1024)
        after = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1", outputs=[_big_output()])])
        with pytest.raises(StoreError, match=r"cannot write .*train.ipynb: No space left on device") as failed:
            write_ipynb(after, str(target))
        assert "\n" not in str(failed.value)
        assert load_notebook_node(str(target)).cells[0].source == "print('first cells')"  # the last whole save
        assert sorted(p.name for p in disk.iterdir()) == ["filler", "train.ipynb"]  # no temporary file left


def _big_output():
    return nbformat.v4.new_output("stream", name="stdout", text="a training log line\n" * 20_000)


def test_the_kernel_keeps_its_socket_errors_at_shutdown_off_the_console(tmp_path):
    """A kernel stopped mid-flush logs pyzmq's error through tornado's logger to the run's stderr: silenced, and
    without a trace in the notebook (no cell, no execution count)."""
    from sentiment_pipeline.training.notebook_execution import execute

    notebook = tmp_path / "probe.ipynb"
    cell = nbformat.v4.new_code_cell("import logging\nprint(logging.getLogger('tornado.general').level)")
    cell.metadata["tags"] = []
    nbformat.write(nbformat.v4.new_notebook(cells=[cell]), notebook)
    execute(notebook, str(tmp_path / "out.ipynb"), {}, cwd=tmp_path)
    [executed] = nbformat.read(tmp_path / "out.ipynb", as_version=4).cells
    assert executed.outputs[0]["text"].strip() == "50" and executed.execution_count == 1
