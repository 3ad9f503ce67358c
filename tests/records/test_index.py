"""The runs index: defensive rendering of synthetic records, and what a person sees in headless Chromium."""

import json
import shutil
import subprocess
import tempfile
from html import escape, unescape
from pathlib import Path
from urllib.parse import unquote

import pytest
from PIL import Image

from sentiment_pipeline.records.index import collect_runs, write_index
from sentiment_pipeline.records.store import LocalStore

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def _write(root: Path, key: str, data) -> None:
    path = root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data))


def _metrics(f1: float) -> dict:
    return {"n": 100, "accuracy": f1 - 0.01, "macro_f1": f1, "macro_recall": f1, "per_class": {}}


@pytest.fixture
def synthetic_store(tmp_path) -> Path:
    root = tmp_path / "store"
    _write(
        root,
        "runs/ok/manifest.json",
        {"status": "succeeded", "started_at": "2026-11-20T10:00:00+00:00", "duration_s": 200.0},
    )
    _write(
        root,
        "runs/ok/params.json",
        {
            "data": {"uri": "s3://b/train.csv", "name": "train.csv", "sha256": "ab" * 32},
            "params": {"epochs": 3, "stemmer": "none"},
        },
    )
    _write(root, "runs/ok/metrics.json", {"model": _metrics(0.7403), "baseline": _metrics(0.7092)})
    _write(root, "runs/ok/reports/preprocess.html", "<p>pre</p>")
    _write(root, "runs/ok/reports/train.html", "<p>train</p>")
    _write(
        root,
        "runs/bad/manifest.json",
        {
            "status": "failed",
            "started_at": "2026-11-21T10:00:00+00:00",
            "error": "cell 4: RuntimeError: <script>alert(1)</script>",
            "failed_step": "train",
        },
    )
    _write(root, "runs/bad/reports/preprocess.html", "<p>pre</p>")
    _write(root, "runs/half/manifest.json", "{not json")
    _write(root, "latest.json", {"run_id": "ok"})
    return root


def test_index_lists_every_run_newest_first_and_survives_broken_records(synthetic_store):
    runs = collect_runs(LocalStore(synthetic_store))
    assert [r["run_id"] for r in runs] == ["bad", "ok", "half"]  # unreadable start time sorts last
    assert runs[2]["status"] == "incomplete"

    write_index(LocalStore(synthetic_store))
    html = (synthetic_store / "index.html").read_text()
    rows = [html.index(f'<tr id="run-{rid}"><td><code>{rid}</code>') for rid in ("bad", "ok", "half")]
    assert rows == sorted(rows)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>" not in html
    assert "0.7403" in html and "0.7092" in html and "+0.0311" in html
    assert 'class="badge latest"' in html and "latest: <code>ok</code>" in html
    assert "served: none recorded (no <code>deployed.json</code>" in html  # latest is not "served"
    assert "served model" not in html and "badge served" not in html and "gate:" not in html  # none of them here
    links = [part.split('"')[0] for part in html.split('href="')[1:]]
    assert "runs/bad/reports/train.html" not in links and "runs/bad/reports/preprocess.html" in links
    for link in links:
        assert (synthetic_store / link).is_file(), link


def _run(root: Path, run_id: str, started: str, **manifest) -> None:
    """A succeeded run's record: manifest (plus ``manifest`` fields), params and metrics."""
    _write(root, f"runs/{run_id}/manifest.json", {"status": "succeeded", "started_at": started, **manifest})
    _write(root, f"runs/{run_id}/params.json", {"params": {"epochs": 3}, **manifest})
    _write(root, f"runs/{run_id}/metrics.json", {"model": _metrics(0.75), "baseline": _metrics(0.70)})


def _index(root: Path) -> str:
    write_index(LocalStore(root))
    return (root / "index.html").read_text()


def _row_of(html: str, run_id: str) -> str:
    start = html.index(f'<tr id="{escape(f"run-{run_id}", quote=True)}">')
    return html[start : html.index("</tr>", start)]


def _assert_links_resolve(root: Path, html: str) -> None:
    """Every href is a file of the store or the id of a row (percent-decoded, as a browser matches them)."""
    ids = {unescape(part.split('"')[0]) for part in html.split(' id="')[1:]}
    for raw in (part.split('"')[0] for part in html.split('href="')[1:]):
        link = unquote(unescape(raw))
        if link.startswith("#"):
            assert link[1:] in ids, link
        else:
            assert (root / link).is_file(), link


def test_a_reproduction_and_its_source_link_each_other_both_ways(tmp_path):
    root, source = tmp_path / "store", "scheduled__2026-11-24T00:00:00+00:00"
    _run(root, source, "2026-11-24T00:00:00+00:00")
    _run(root, "same.1", "2026-11-25T00:00:00+00:00", reproduces=source)
    _write(
        root,
        "runs/same.1/reproduction.json",
        {"reproduces": source, "run_id": "same.1", "identical": True, "metrics": {"max_abs_diff": 0.0}},
    )
    _run(root, "moved", "2026-11-26T00:00:00+00:00", reproduces=source)
    _write(
        root,
        "runs/moved/reproduction.json",
        {
            "reproduces": source,
            "identical": False,
            "metrics": {"identical": False, "differ": 3, "max_abs_diff": 0.0042},
            "weights": {"identical": False, "differ": 2, "max_abs_diff": 1.5e-06},
            "splits_identical": True,
            "tokenizer_identical": True,
        },
    )
    _write(root, "runs/running/manifest.json", {"status": "running", "reproduces": source})  # no reproduction.json
    _run(root, "crashed", "2026-11-27T00:00:00+00:00", reproduces=source)
    _write(root, "runs/crashed/reproduction.json", "{half written")

    html = _index(root)
    to_source = f'reproduces <a href="#run-{source}"><code>{source}</code></a>'
    assert f'<tr id="run-{source}">' in html
    same = _row_of(html, "same.1")
    assert f'{to_source}: <a class=better href="runs/same.1/reproduction.json">identical</a>' in same
    moved = _row_of(html, "moved")
    assert to_source in moved and 'href="runs/moved/reproduction.json" title="' in moved and ">differs</a>" in moved
    assert "weights: max_abs_diff 1.5e-06" in moved and "metrics: max_abs_diff 0.0042" in moved
    for pending in ("running", "crashed"):  # the link to the source without a verdict
        row = _row_of(html, pending)
        assert f"{to_source}</div>" in row and "reproduction.json" not in row, pending
    back = _row_of(html, source)
    assert 'reproduced by <a href="#run-same.1"><code>same.1</code></a> (identical)' in back
    assert 'reproduced by <a href="#run-moved"><code>moved</code></a> (differs)' in back
    assert 'reproduced by <a href="#run-running"><code>running</code></a></div>' in back
    assert 'reproduced by <a href="#run-crashed"><code>crashed</code></a></div>' in back
    assert "reproduced by" not in same and "reproduces" not in back
    _assert_links_resolve(root, html)


def test_comparisons_show_on_the_b_row_with_delta_and_interval(tmp_path):
    root, against = tmp_path / "store", "2026:a+b.c_d-e"
    _run(root, against, "2026-11-20T00:00:00+00:00")
    _run(root, "b", "2026-11-21T00:00:00+00:00")
    _write(root, f"runs/b/comparisons/{against}.html", "<p>report</p>")
    _write(
        root,
        f"runs/b/comparisons/{against}.json",
        {
            "a": {"run_id": against},
            "b": {"run_id": "b"},
            "macro_f1": {
                "n": 2748,
                "a": 0.75,
                "b": 0.76,
                "delta": 0.01,
                "low": -0.002,
                "high": 0.021,
                "confidence": 0.95,
            },
        },
    )
    # the same pair on an evaluation file: its own report beside the first, labelled with the file
    on_file = f"runs/b/comparisons/eval-0123456789ab/{against}"
    _write(root, f"{on_file}.html", "<p>report</p>")
    _write(
        root,
        f"{on_file}.json",
        {
            "texts": {"source": "eval_data", "eval_data": {"name": "fixed<tweets>.csv", "sha256": "0123456789ab" * 5}},
            "macro_f1": {"delta": -0.03, "low": -0.05, "high": -0.01},
        },
    )
    _write(root, "runs/b/comparisons/broken.html", "<p>report</p>")
    _write(root, "runs/b/comparisons/broken.json", "{not json")
    _write(root, "runs/b/comparisons/json-only.json", {"macro_f1": {"delta": 0.5, "low": 0.4, "high": 0.6}})

    html = _index(root)
    row = _row_of(html, "b")
    assert f'<a href="runs/b/comparisons/{against}.html">vs <code>{against}</code></a>: ' in row
    assert (
        "+0.0100 [\u22120.0020, +0.0210]</span>" in row and 'title="B − A macro-F1 on 2748 texts, 95% interval"' in row
    )
    assert (
        f'<a href="runs/b/comparisons/eval-0123456789ab/{against}.html">vs <code>{against}</code></a>'
        " on <code>fixed&lt;tweets&gt;.csv</code>: <span class=worse"
    ) in row
    assert "\u22120.0300 [\u22120.0500, \u22120.0100]</span>" in row
    assert '<a href="runs/b/comparisons/broken.html">vs <code>broken</code></a></div>' in row  # linked, no numbers
    assert "json-only" not in html and "+0.5000" not in html  # only reports that exist are listed
    assert "comparisons/" not in _row_of(html, against)  # on B's row only
    _assert_links_resolve(root, html)


def test_gate_decisions_show_as_badges_with_the_reason(tmp_path):
    root = tmp_path / "store"
    reasons = {
        "held": "macro-F1 0.6900 is below the threshold 0.70: hold.",
        "promoted": "macro-F1 0.7600 ≥ 0.70 and the interval's lower bound −0.0020 > −0.005: promote.",
    }
    for i, (run_id, decision) in enumerate((("held", "hold"), ("promoted", "promote"))):
        _run(root, run_id, f"2026-11-2{i}T00:00:00+00:00")
        _write(
            root,
            f"runs/{run_id}/gate.json",
            {"run_id": run_id, "decision": decision, "promote": decision == "promote", "reason": reasons[run_id]},
        )
    _run(root, "ungated", "2026-11-23T00:00:00+00:00")

    html = _index(root)
    assert (
        f'<a class=badge style="background:#bc4c00" href="runs/held/gate.json" '
        f'title="{escape(reasons["held"], quote=True)}">gate: hold</a>'
    ) in _row_of(html, "held")
    assert (
        f'<a class=badge style="background:#1a7f37" href="runs/promoted/gate.json" '
        f'title="{escape(reasons["promoted"], quote=True)}">gate: promote</a>'
    ) in _row_of(html, "promoted")
    assert "gate:" not in _row_of(html, "ungated")
    _assert_links_resolve(root, html)


def test_deployed_json_names_the_served_run_and_marks_comparisons_against_it(tmp_path):
    root = tmp_path / "store"
    _run(root, "served-run", "2026-11-20T00:00:00+00:00")
    _run(root, "newer", "2026-11-21T00:00:00+00:00")
    _run(root, "other", "2026-11-19T00:00:00+00:00")
    for against in ("served-run", "other"):
        _write(root, f"runs/newer/comparisons/{against}.html", "<p>report</p>")
    _write(root, "latest.json", {"run_id": "newer"})
    _write(
        root, "deployed.json", {"run_id": "served-run", "macro_f1": 0.75, "deployed_at": "2026-11-20T12:00:00+00:00"}
    )

    html = _index(root)
    assert (
        "latest: <code>newer</code> (<code>latest.json</code>: the newest succeeded run); "
        "served: <code>served-run</code> (<code>deployed.json</code>, deployed 2026-11-20 12:00 UTC)."
    ) in html
    assert f"sentiment-pipeline compare --store {LocalStore(root).uri} served &lt;run id&gt;" in html
    assert '<span class="badge served">served</span>' in _row_of(html, "served-run")
    newer = _row_of(html, "newer")
    assert 'badge served">served<' not in newer and 'class="badge latest"' in newer
    assert 'vs <code>served-run</code></a> <span class="badge served">vs served</span>' in newer
    assert html.count("vs served") == 1  # not on the comparison against "other"
    _assert_links_resolve(root, html)


def _header_of(html: str) -> str:
    return html[html.index("</h1>") : html.index("<svg")]


def _held_latest_store(root: Path, deployed: str | None) -> Path:
    """``promoted`` (older, gate: promote) and ``held`` (newest succeeded, gate: hold; what latest.json names)."""
    for i, (run_id, decision) in enumerate((("promoted", "promote"), ("held", "hold"))):
        _run(root, run_id, f"2026-11-2{i}T00:00:00+00:00")
        _write(root, f"runs/{run_id}/gate.json", {"decision": decision, "promote": decision == "promote"})
    _write(root, "latest.json", {"run_id": "held"})
    if deployed:
        _write(root, "deployed.json", {"run_id": deployed})
    return root


def test_a_held_latest_run_is_latest_and_the_promoted_one_is_served(tmp_path):
    html = _index(_held_latest_store(tmp_path / "store", deployed="promoted"))
    header = _header_of(html)
    assert (
        "latest: <code>held</code> (<code>latest.json</code>: the newest succeeded run, gate: hold); "
        "served: <code>promoted</code> (<code>deployed.json</code>)."
    ) in header
    assert "served model" not in html
    held, promoted = _row_of(html, "held"), _row_of(html, "promoted")
    assert 'class="badge latest"' in held and "badge served" not in held and "gate: hold" in held
    assert '<span class="badge served">served</span>' in promoted and "badge latest" not in promoted


def test_a_held_latest_run_is_never_called_served_when_nothing_was_deployed(tmp_path):
    html = _index(_held_latest_store(tmp_path / "store", deployed=None))
    header = _header_of(html)
    assert "latest: <code>held</code> (<code>latest.json</code>: the newest succeeded run, gate: hold)" in header
    assert "served: none recorded" in header and "served: <code>" not in header and "served model" not in html
    assert "badge served" not in html and "compare --store" not in html  # no served run to compare against
    _assert_links_resolve(tmp_path / "store", html)


def test_an_empty_store_has_no_latest_and_no_served_run(tmp_path):
    html = _index(tmp_path / "store")
    assert "0 run(s); latest: none yet; served: none recorded" in html


def test_hostile_run_ids_and_reasons_are_escaped(tmp_path):
    root, evil = tmp_path / "store", "<i>evil&\"'#%"
    _run(root, evil, "2026-11-20T00:00:00+00:00")
    _write(root, f"runs/{evil}/gate.json", {"decision": "hold", "reason": '<script>alert(1)</script>" onmouseover="x'})
    _write(root, f"runs/{evil}/comparisons/<img src=x onerror=alert(2)>.html", "<p>report</p>")
    _write(root, f"runs/{evil}/comparisons/<img src=x onerror=alert(2)>.json", {"macro_f1": {"delta": "<b>"}})
    _run(root, "copy", "2026-11-21T00:00:00+00:00", reproduces=evil)
    _write(root, "runs/copy/reproduction.json", {"identical": False, "weights": {"max_abs_diff": "<script>"}})
    _write(root, "latest.json", {"run_id": "<script>alert(3)</script>"})
    _write(root, "deployed.json", {"run_id": evil, "deployed_at": "<script>alert(4)</script>"})

    html = _index(root)
    for raw in ("<script", "<img", "<i>", "<b>", '" onmouseover'):
        assert raw not in html, raw
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&quot; onmouseover=&quot;x" in html
    assert f'<tr id="{escape(f"run-{evil}", quote=True)}">' in html and "gate: hold" in html
    assert '<span class="badge served">served</span>' in _row_of(html, evil)
    _assert_links_resolve(root, html)  # percent-encoded hrefs still reach the files and the rows


def _chromium(*args: str) -> subprocess.CompletedProcess:
    assert Path(CHROMIUM).exists(), "chromium missing: run `make system-deps` (scripts/install-system-deps.sh)"
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )


def _screenshot(url: str, out: Path, height: int = 900) -> Image.Image:
    """Chromium's screenshot of ``url`` into ``out`` (a test's temporary folder, never the source tree)."""
    _chromium(f"--window-size=1400,{height}", f"--screenshot={out}", url)
    return Image.open(out).convert("RGB")


def _has_colour(image: Image.Image, rgb: tuple[int, int, int], tolerance: int = 12) -> bool:
    return any(all(abs(a - b) <= tolerance for a, b in zip(pixel, rgb)) for _, pixel in image.getcolors(1 << 20))


@pytest.mark.slow
def test_a_person_sees_runs_badges_and_chart(finished_run, tmp_path):
    store, run_id = finished_run
    html = store / "index.html"
    assert html.is_file()  # the runner refreshed it after the run
    image = _screenshot(html.as_uri(), tmp_path / "index.png")
    assert len(image.getcolors(1 << 20)) > 200  # text, badges and a chart, not a blank page
    assert _has_colour(image, (0x1A, 0x7F, 0x37))  # green "succeeded" badge
    assert _has_colour(image, (0x09, 0x69, 0xDA))  # blue LSTM line / "latest" badge
    dom = _chromium("--dump-dom", html.as_uri()).stdout
    assert f"<code>{run_id}</code>" in dom and "<svg" in dom and f"runs/{run_id}/reports/train.html" in dom


@pytest.mark.slow
def test_training_report_shows_its_plots(finished_run, tmp_path):
    store, run_id = finished_run
    report = (store / "runs" / run_id / "reports" / "train.html").as_uri()
    image = _screenshot(report, tmp_path / "train-report.png", 4000)
    colours = image.getcolors(1 << 20)
    assert len(colours) > 500  # matplotlib figures (curves, confusion matrices) rendered, not placeholders
    assert _has_colour(image, (0x1F, 0x77, 0xB4), tolerance=20)  # matplotlib's first line colour


def test_runs_made_with_edited_notebooks_are_marked_and_old_records_are_not(tmp_path):
    root = tmp_path / "store"
    started = {"status": "succeeded", "started_at": "2026-12-04T10:00:00+00:00", "duration_s": 30.0}
    notebook = {"sha256": "0" * 64, "origin": "checkout", "compared_with": "git 91ed487a4710:notebooks/train.ipynb"}
    _write(
        root,
        "runs/edited/manifest.json",
        {
            **started,
            "notebooks": {
                "preprocess.ipynb": {**notebook, "edited": False},
                "train.ipynb": {**notebook, "edited": True},
            },
        },
    )
    _write(root, "runs/clean/manifest.json", {**started, "notebooks": {"train.ipynb": {**notebook, "edited": False}}})
    _write(root, "runs/old/manifest.json", started)  # recorded before runs recorded their notebooks
    html = Path(write_index(LocalStore(root)).removeprefix("file://")).read_text()
    rows = {rid: html.split(f'id="run-{rid}"')[1].split("</tr>")[0] for rid in ("edited", "clean", "old")}
    assert (
        "edited: train<" in rows["edited"] and "differs from git 91ed487a4710:notebooks/train.ipynb" in rows["edited"]
    )
    assert "preprocess" not in rows["edited"].split("edited:")[1].split("<")[0]
    assert "edited:" not in rows["clean"] and "edited:" not in rows["old"]
