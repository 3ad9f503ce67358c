"""The runs index: defensive rendering of synthetic records, and what a person sees in headless Chromium."""

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

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
    rows = [html.index(f"<tr><td><code>{rid}</code>") for rid in ("bad", "ok", "half")]
    assert rows == sorted(rows)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>" not in html
    assert "0.7403" in html and "0.7092" in html and "+0.0311" in html
    assert 'class="badge latest"' in html and "served model: <code>ok</code>" in html
    links = [part.split('"')[0] for part in html.split('href="')[1:]]
    assert "runs/bad/reports/train.html" not in links and "runs/bad/reports/preprocess.html" in links
    for link in links:
        assert (synthetic_store / link).is_file(), link


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
