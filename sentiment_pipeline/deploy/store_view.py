"""Local mode: the store's reports and index on Airflow's own web server, where the train task's extra links point.

The Airflow 3 UI renders an extra link only if it is http(s), mailto or on the UI's own origin, so a ``file://`` URL
of a local store never shows. ``deploy/airflow_plugin.py`` (an entry-point plugin) mounts this read-only view of
``$SENTIMENT_PIPELINE_STORE`` at ``/sentiment-store`` on the API server (``make airflow`` sets the store): only for
a user Airflow lets read the DAG's task logs (its own JWT, cookie or bearer), every page sandboxed
(``Content-Security-Policy: sandbox``: no scripts, an opaque origin, so a report cannot act on Airflow's origin with
the user's session), nothing outside the store or hidden. ECS mode serves nothing here: its links open the S3 console.

Nothing heavy at import time (FastAPI and Airflow's security helpers load on the first request): every Airflow
component imports the plugin."""

from __future__ import annotations

import mimetypes
import os
from collections.abc import Mapping
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..records.record import INDEX
from ..records.store import LocalStore, StoreError, open_store
from . import orchestration as orch

MOUNT = "/sentiment-store"  # the view's path on the Airflow web server (not a reserved prefix)
DAG_ID = "sentiment_training"
HEADERS = {"Content-Security-Policy": "sandbox", "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}


def served_root(environ: Mapping[str, str] = os.environ) -> Path | None:
    """The local store this view serves: ``$SENTIMENT_PIPELINE_STORE`` in local mode when it is a folder, else None."""
    store_uri = (environ.get("SENTIMENT_PIPELINE_STORE") or "").strip()
    try:  # never raise: every Airflow component imports the plugin
        if orch.pipeline_mode(environ) != "local" or not store_uri:
            return None
        store = open_store(store_uri)
    except (orch.ConfigError, StoreError):
        return None
    return store.root if isinstance(store, LocalStore) else None


def served_url(store_uri: str, environ: Mapping[str, str] = os.environ) -> str | None:
    """Where the view serves ``store_uri`` (a root-relative URL on Airflow's web server), or None if it does not."""
    root = served_root(environ)
    if root is None:
        return None
    try:
        store = open_store(store_uri)
    except StoreError:
        return None
    return MOUNT if isinstance(store, LocalStore) and store.root == root else None


def _listing(request_path: str, folder: Path) -> str:
    rows = "".join(
        f'<li><a href="{escape(quote(p.name + ("/" if p.is_dir() else "")), quote=True)}">'
        f"{escape(p.name)}{'/' if p.is_dir() else ''}</a></li>"
        for p in sorted(folder.iterdir())
        if not p.name.startswith(".")
    )
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(request_path)}</title></head>'
        f'<body style="font-family:system-ui,sans-serif;margin:24px"><h1>{escape(request_path)}</h1>'
        f'<ul>{rows or "<li>empty</li>"}</ul><p><a href="{escape(MOUNT)}/{INDEX}">runs index</a></p></body></html>'
    )


def create_app(root: Path, authorize: Any = None) -> Any:
    """The FastAPI app: GET a file or folder of ``root``, for users allowed to read the DAG's task logs.

    ``authorize``: the FastAPI dependency that checks the user (default: Airflow's own, on its JWT); tests of the file
    handling pass their own."""
    from fastapi import Depends, FastAPI, HTTPException
    from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse

    if authorize is None:
        from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
        from airflow.api_fastapi.core_api.security import requires_access_dag

        authorize = requires_access_dag("GET", DagAccessEntity.TASK_LOGS, param_dag_id=DAG_ID)
    app = FastAPI(title="sentiment-pipeline store (local mode)", docs_url=None, redoc_url=None, openapi_url=None)
    allowed = Depends(authorize)

    @app.get("/{path:path}", dependencies=[allowed])
    def read(path: str) -> Any:
        parts = [part for part in path.split("/") if part]
        if any(part.startswith(".") for part in parts):  # .. and hidden files (temporary writes, locks)
            raise HTTPException(404, "not found")
        target = (root / Path(*parts)) if parts else root
        resolved = target.resolve()
        if resolved != root and root not in resolved.parents:  # a symlink out of the store
            raise HTTPException(404, "not found")
        if resolved.is_dir():
            if parts and not path.endswith("/"):  # relative links of a listing resolve inside the folder
                return RedirectResponse(f"{MOUNT}/{quote(path)}/", headers=HEADERS)
            return HTMLResponse(_listing(f"{MOUNT}/{path}", resolved), headers=HEADERS)
        if not resolved.is_file():
            raise HTTPException(404, "not found")
        kind = mimetypes.guess_type(resolved.name)[0] or "application/octet-stream"
        return FileResponse(resolved, media_type=kind, headers=HEADERS)

    return app


class _OnFirstRequest:
    """An ASGI app that builds the real one on its first request (the plugin is imported by every component)."""

    def __init__(self, root: Path) -> None:
        self.root, self.app = root, None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self.app is None:
            self.app = create_app(self.root)
        await self.app(scope, receive, send)


def fastapi_apps(environ: Mapping[str, str] = os.environ) -> list[dict[str, Any]]:
    """``AirflowPlugin.fastapi_apps``: the view in local mode with a local store, nothing otherwise."""
    root = served_root(environ)
    if root is None:
        return []
    return [{"name": "sentiment-pipeline store", "app": _OnFirstRequest(root), "url_prefix": MOUNT}]
