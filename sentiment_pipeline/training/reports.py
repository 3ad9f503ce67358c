"""What an HTML report shows around its executed notebook: a header (which report, of which run and data, when,
how it ended, with which parameters), and which cells a reader sees.

The header is built outside the notebook and inserted into a copy of it before export (``notebook_execution.
render_html``), so the executed ``.ipynb`` in the record stays exactly as papermill wrote it. The parameter cells
(``parameters``, papermill's ``injected-parameters``) never appear in a report: the header's table shows the
user-facing values, and the rest are temporary paths of the run's machine.
"""

from __future__ import annotations

import copy
import html
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .. import params as run_params

if TYPE_CHECKING:
    import pandas as pd
    from pandas.io.formats.style import Styler

HIDDEN_TAGS = ("parameters", "injected-parameters")  # papermill's tags: never shown, not even with the code
SUCCEEDED = "succeeded"
PAPERMILL_ERROR_TAG = "papermill-error-cell-tag"  # the markdown cells papermill adds to a failed notebook
ERROR_ANCHOR = "papermill-error-cell"  # the id papermill gives the marker just before the failed cell


@dataclass(frozen=True)
class ReportHeader:
    """The top of a report. ``facts``: (label, value) rows shown in order, values as plain text (escaped here);
    ``parameters``: (name, value, default) of the notebook's user-facing parameters; ``status``: "succeeded", or
    what failed (shown red)."""

    subject: str  # "run 20261204T160656Z-696a2c": the page title is "<title> · <subject>"
    facts: tuple[tuple[str, str], ...] = ()
    parameters: tuple[tuple[str, Any, Any], ...] = ()
    status: str | None = None
    title: str | None = None  # "Training report"; None: the notebook's own "# " heading

    @property
    def page_title(self) -> str:
        return f"{self.title or 'Report'} · {self.subject}"

    def html(self, error_link: str | None = None) -> str:
        """The header as HTML; ``error_link``: where the failed cell is on the page, for the status to point at."""
        rows = [
            (label, f"<code>{html.escape(value)}</code>" if label in _CODE_FACTS else html.escape(value))
            for label, value in self.facts
        ]
        if self.status is not None:
            state = "ok" if self.status == SUCCEEDED else "failed"
            status = f'<span class="report-status report-{state}">{html.escape(self.status)}</span>'
            if error_link and state == "failed":
                status += f' <a href="{html.escape(error_link)}">the failed cell</a>'
            rows.append(("Status", status))
        facts = "".join(f"<tr><th>{html.escape(label)}</th><td>{value}</td></tr>" for label, value in rows)
        parts = ['<div class="report-header">', f"<h1>{html.escape(self.title or 'Report')}</h1>"]
        parts.append(f'<table class="report-facts"><tbody>{facts}</tbody></table>')
        if self.parameters:
            parts.append(_parameters_table(self.parameters))
        parts.append("</div>")
        return "\n".join(parts)


_CODE_FACTS = ("Run", "Run A", "Run B", "Reproduces")
_PARAMETER_COLUMNS = 4  # name/value pairs per row of the parameters table (up to 5 fit on one row)

# The page's own rules beside the lab template's: the header, and text output that wraps between words (the
# template breaks lines anywhere, even inside a word).
PAGE_CSS = """<style type="text/css">
.jp-OutputArea-output pre { word-break: normal; overflow-wrap: anywhere; }
.report-header { margin: 0 0 1.2em 0; }
.report-header h1 { margin-top: 0.2em; }
.report-header table { border-collapse: collapse; margin: 0 0 0.8em 0; font-size: 13px; }
.report-header tr { background: none !important; }
.report-header th, .report-header td { text-align: left !important; padding: 3px 14px 3px 0 !important;
  border: none !important; vertical-align: top; }
.report-header .report-facts th { color: #57606a; font-weight: normal; }
.report-header .report-params { border-top: 1px solid #d0d7de !important; }
.report-header .report-params caption { text-align: left; color: #57606a; padding: 6px 0 2px 0; }
.report-header .report-params th { font-family: var(--jp-code-font-family, monospace); font-weight: normal;
  color: #57606a; }
.report-header .report-params td { padding-right: 28px !important; }
.report-header .report-changed { font-weight: bold; }
.report-header .report-default { color: #57606a; font-size: 12px; }
.report-status { padding: 1px 8px; border-radius: 10px; color: white; }
.report-ok { background: #1a7f37; }
.report-failed { background: #cf222e; }
.report-stopped { color: #cf222e; font-weight: bold; }
</style>"""


def _value_text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _parameters_table(parameters: tuple[tuple[str, Any, Any], ...]) -> str:
    cells = []
    for name, value, default in parameters:
        if value == default:
            shown = html.escape(_value_text(value))
        else:
            shown = (
                f'<span class="report-changed">{html.escape(_value_text(value))}</span> '
                f'<span class="report-default">(default {html.escape(_value_text(default))})</span>'
            )
        cells.append(f"<th>{html.escape(name)}</th><td>{shown}</td>")
    per_row = len(cells) if len(cells) <= _PARAMETER_COLUMNS + 1 else _PARAMETER_COLUMNS
    rows = ["".join(cells[i : i + per_row]) for i in range(0, len(cells), per_row)]
    body = "".join(f"<tr>{row}</tr>" for row in rows)
    caption = "Parameters (<code>-p name=value</code>; changed ones in bold)"
    return f'<table class="report-params"><caption>{caption}</caption><tbody>{body}</tbody></table>'


def utc_text(timestamp: str | None) -> str:
    """``2026-12-04T16:06:56+00:00`` as ``2026-12-04 16:06 UTC`` (the text itself when it is not a timestamp)."""
    try:
        moment = datetime.fromisoformat(str(timestamp))
    except ValueError:
        return str(timestamp)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def data_text(data: Mapping[str, Any] | None) -> str:
    """``sample.csv · 1,500 rows · sha256 a67ca13c288d``: a data file as a reader identifies it."""
    data = data or {}
    parts = [str(data.get("name") or data.get("uri") or "?")]
    if isinstance(data.get("rows"), int):
        parts.append(f"{data['rows']:,} rows")
    if data.get("sha256"):
        parts.append(f"sha256 {str(data['sha256'])[:12]}")
    return " · ".join(parts)


def run_header(
    notebook: str,
    run_id: str,
    *,
    data: Mapping[str, Any] | None,
    params: Mapping[str, Any],
    started_at: str | None,
    status: str,
    eval_data: Mapping[str, Any] | None = None,
    reproduces: str | None = None,
) -> ReportHeader:
    """The header of a pipeline notebook's report (``notebook``: "preprocess" or "train"). Its parameters are the
    user-facing ones that notebook takes (``params.PARAMETERS``' ``notebooks``), never the runner's internal paths;
    the evaluation file appears in the report of the notebook that scores it."""
    facts = [("Run", run_id)]
    if reproduces:
        facts.append(("Reproduces", reproduces))
    facts.append(("Data", data_text(data)))
    if eval_data and notebook == run_params.TRAIN:
        facts.append(("Evaluation file", data_text(eval_data)))
    facts.append(("Started", utc_text(started_at)))
    shown = tuple(
        (p.name, params.get(p.name, p.default), p.default) for p in run_params.PARAMETERS if notebook in p.notebooks
    )
    return ReportHeader(f"run {run_id}", tuple(facts), shown, status)


def first_heading(nb) -> str | None:
    """The text of the notebook's first ``# `` heading (its name), if its first markdown cell opens with one."""
    for cell in nb.cells:
        if cell.cell_type == "markdown" and PAPERMILL_ERROR_TAG not in _tags(cell):
            first = cell.source.lstrip().splitlines()[0] if cell.source.strip() else ""
            return first[2:].strip() if first.startswith("# ") else None
    return None


def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _failed(cell) -> bool:
    return cell.cell_type == "code" and any(output.get("output_type") == "error" for output in cell.get("outputs", []))


def _up_to_the_failure(cells: list) -> list:
    """A failed notebook's cells up to the one that failed, papermill's marker before it reworded, and a note in place
    of the sections that never ran (their headings over empty space read as a report with missing parts)."""
    import nbformat

    failed = next((index for index, cell in enumerate(cells) if _failed(cell)), None)
    if failed is None:
        return cells
    kept = []
    for cell in cells[: failed + 1]:
        if PAPERMILL_ERROR_TAG in _tags(cell):
            if f'id="{ERROR_ANCHOR}"' not in cell.source:  # the banner at the top only links to the marker
                continue  # the header's status says what failed, and links to the cell
            cell.source = (
                f'<span id="{ERROR_ANCHOR}" class="report-stopped">This cell failed, and the run stopped:</span>'
            )
        kept.append(cell)
    kept.append(nbformat.v4.new_markdown_cell("*The sections after the failed cell did not run.*"))
    return kept


def report_notebook(nb, header: ReportHeader | None = None, show_code: bool = False):
    """A copy of the executed notebook ``nb`` as its report shows it: without the parameter cells, without code
    cells that printed nothing when the code is hidden, ending at the cell that failed (if one did), and with
    ``header`` in place of the notebook's own ``# `` title. ``nb`` itself is left as it is."""
    import nbformat

    report = copy.deepcopy(nb)
    if header is not None and header.title is None:
        header = replace(header, title=first_heading(nb) or "Report")
    cells = [cell for cell in report.cells if not set(_tags(cell)) & set(HIDDEN_TAGS)]
    if not show_code:
        cells = [cell for cell in cells if cell.cell_type != "code" or cell.get("outputs")]
    cells = _up_to_the_failure(cells)
    if header is not None:
        for index, cell in enumerate(cells):  # the header holds the title now
            if cell.cell_type == "markdown" and PAPERMILL_ERROR_TAG not in _tags(cell):
                lines = cell.source.lstrip().splitlines()
                if lines and lines[0].startswith("# "):
                    rest = "\n".join(lines[1:]).strip()
                    if rest:
                        cell.source = rest
                    else:
                        del cells[index]
                break
        error_link = f"#{ERROR_ANCHOR}" if any(f'id="{ERROR_ANCHOR}"' in cell.source for cell in cells) else None
        banner = nbformat.v4.new_code_cell(
            source="",
            metadata={"transient": {"remove_source": True}, "tags": ["report-header"]},
            outputs=[nbformat.v4.new_output("display_data", data={"text/html": header.html(error_link)})],
        )
        cells.insert(0, banner)
        report.metadata["title"] = header.page_title
    else:
        report.metadata["title"] = first_heading(nb) or "Report"
    report.cells = cells
    return report


def with_page_css(page: str) -> str:
    """The exported page with ``PAGE_CSS`` at the end of its head (after the template's styles, so it wins)."""
    return page.replace("</head>", PAGE_CSS + "\n</head>", 1)


def text_table(frame: pd.DataFrame, formats: Mapping[str, str] | None = None) -> Styler:
    """A table of texts as a reader reads it: text columns aligned left (the template aligns every cell right), no
    row numbers, ``formats`` (column -> format string) applied."""
    import pandas as pd

    text_columns = [column for column in frame.columns if pd.api.types.is_string_dtype(frame[column])]
    styler = frame.style.hide(axis="index")
    for column, pattern in (formats or {}).items():
        styler = styler.format(pattern, subset=[column])
    if text_columns:
        styler = styler.set_properties(subset=text_columns, **{"text-align": "left"})
        styler = styler.set_table_styles(
            [
                {"selector": f"th.col_heading.col{frame.columns.get_loc(c)}", "props": "text-align: left"}
                for c in text_columns
            ]
        )
    return styler
