"""Local mode's view of the store on Airflow's web server (deploy/store_view.py): what it serves, to whom, how.

In process with FastAPI's test client; that it is mounted in Airflow's API server and refuses a request without
Airflow credentials is checked on a real DAG run (test_dag_local.py)."""

from __future__ import annotations

import pytest
from fastapi import HTTPException
from fastapi.testclient import TestClient

from sentiment_pipeline.deploy import store_view

RUN = "manual__2026-12-04T16:20:00+00:00"


@pytest.fixture
def store(tmp_path):
    root = tmp_path / "store"
    reports = root / "runs" / RUN / "reports"
    reports.mkdir(parents=True)
    (reports / "train.html").write_text("<h1>train report</h1>")
    (reports / "preprocess.html").write_text("<h1>preprocess report</h1>")
    (reports / ".train.html.tmp").write_text("half written")
    (root / "index.html").write_text(f'<tr id="run-{RUN}">')
    (tmp_path / "secret.txt").write_text("outside the store")
    (root / "escape").symlink_to(tmp_path / "secret.txt")
    return root


def _client(root, allowed: bool = True) -> TestClient:
    def authorize() -> None:
        if not allowed:
            raise HTTPException(403, "no access")

    return TestClient(store_view.create_app(root, authorize=authorize))


def test_only_local_mode_with_a_local_store_is_served_and_at_one_place(store):
    local = {"SENTIMENT_PIPELINE_MODE": "local", "SENTIMENT_PIPELINE_STORE": str(store)}
    assert store_view.served_root(local) == store.resolve()
    assert (
        store_view.served_url(str(store), local) == store_view.served_url(store.as_uri(), local) == "/sentiment-store"
    )
    assert store_view.served_url(str(store.parent / "other"), local) is None  # not the store the view serves
    [app] = store_view.fastapi_apps(local)
    assert app["url_prefix"] == "/sentiment-store" and callable(app["app"])
    for environ in (
        {"SENTIMENT_PIPELINE_STORE": str(store)},  # ECS mode: the links open the S3 console
        {**local, "SENTIMENT_PIPELINE_STORE": "s3://bucket/store"},
        {"SENTIMENT_PIPELINE_MODE": "local"},
        {**local, "SENTIMENT_PIPELINE_MODE": "kubernetes"},  # never raises: every Airflow component loads the plugin
    ):
        assert store_view.served_root(environ) is None and store_view.fastapi_apps(environ) == [], environ


def test_reports_and_the_index_are_served_sandboxed(store):
    client = _client(store)
    folder = f"/runs/{RUN.replace(':', '%3A').replace('+', '%2B')}/reports/"

    listing = client.get(folder)
    assert listing.status_code == 200 and listing.headers["content-security-policy"] == "sandbox"
    assert '<a href="train.html">train.html</a>' in listing.text and "preprocess.html" in listing.text
    assert ".train.html.tmp" not in listing.text
    report = client.get(folder + "train.html")
    assert report.status_code == 200 and report.text == "<h1>train report</h1>"
    assert report.headers["content-type"].startswith("text/html")
    assert (
        report.headers["content-security-policy"] == "sandbox" and report.headers["x-content-type-options"] == "nosniff"
    )
    assert f'id="run-{RUN}"' in client.get("/index.html").text
    moved = client.get(folder.rstrip("/"), follow_redirects=False)  # relative links of the listing need the slash
    assert moved.status_code in (302, 307) and moved.headers["location"].endswith("/reports/")


@pytest.mark.parametrize(
    "path", ["/escape", "/runs/%2E%2E/%2E%2E/secret.txt", "/nothing.html", f"/runs/{RUN}/reports/.train.html.tmp"]
)
def test_nothing_outside_the_store_hidden_or_missing_is_served(store, path):
    response = _client(store).get(path)
    assert response.status_code == 404 and "outside the store" not in response.text


def test_a_user_airflow_refuses_gets_nothing(store):
    response = _client(store, allowed=False).get("/index.html")
    assert response.status_code == 403 and "run-" not in response.text
