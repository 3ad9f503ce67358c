"""Helpers for the DAG tests: an isolated Airflow (own AIRFLOW_HOME, sqlite, no examples, dags folder = the
repo's dags/) driven as a command."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from support.project import BIN, ROOT

DAG_ID = "sentiment_training"
# The tasks from the gate to the smoke test (deploy/airflow_release.py), in order: after `train` in
# sentiment_training, after `resolve_best` in sentiment_sweep.
RELEASE_TASKS = {
    "ecs": ("plan_gate", "evaluate", "quality_gate", "package", "build_image", "deploy", "smoke_test"),
    "local": ("plan_gate", "evaluate", "quality_gate", "package", "deploy", "smoke_test"),
}
# What an engineer's shell may carry that would change what the DAG does.
_SCRUB = ("SENTIMENT_PIPELINE_", "AIRFLOW", "AWS_", "BENTOML_")


def clean_environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(_SCRUB)}


def airflow_environment(home: Path) -> dict[str, str]:
    """Environment of an Airflow in ``home`` (sqlite DB ``home/airflow.db``, this repo's dags folder, no examples)."""
    return {
        **clean_environ(),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "BENTOML_HOME": str(home / "bentoml"),
        "BENTOML_DO_NOT_TRACK": "true",
        "SENTIMENT_PIPELINE_RETRIES": "0",
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }


def local_mode_env(airflow_env: dict[str, str], data: Path, store: Path, bentoml_home: Path | None = None) -> dict:
    """``airflow_env`` running the DAGs in local mode on ``data`` into ``store`` (and a BentoML home of its own)."""
    env = {
        **airflow_env,
        "SENTIMENT_PIPELINE_MODE": "local",
        "SENTIMENT_PIPELINE_DATA": str(data),
        "SENTIMENT_PIPELINE_STORE": str(store),
    }
    return {**env, "BENTOML_HOME": str(bentoml_home)} if bentoml_home else env


def migrated_airflow(home: Path) -> dict[str, str]:
    """Environment of a fresh Airflow in ``home``: migrated sqlite DB, this repo's dags folder, no example DAGs."""
    env = airflow_environment(home)
    result = subprocess.run(
        [str(BIN / "airflow"), "db", "migrate"], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return env


@dataclass
class DagRunResult:
    returncode: int
    output: str
    run_id: str
    state: str
    task_states: dict[str, str]


def dags_test(env: dict[str, str], conf: dict, timeout: float = 600, dag_id: str = DAG_ID) -> DagRunResult:
    """``airflow dags test DAG_ID -c CONF``; the run's state and task states read from the DB."""
    result = subprocess.run(
        [str(BIN / "airflow"), "dags", "test", dag_id, "-c", json.dumps(conf)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=env.get("AIRFLOW_HOME"),
    )
    output = result.stdout + result.stderr
    found = re.findall(rf"DagRun Finished: dag_id={dag_id}, .*?run_id=([^,]+),", output)
    assert found, f"no finished run in the output (exit {result.returncode}):\n{output[-5000:]}"
    run_id = found[-1]
    with sqlite3.connect(Path(env["AIRFLOW_HOME"]) / "airflow.db") as db:
        (state,) = db.execute("select state from dag_run where run_id = ?", (run_id,)).fetchone()
        tasks = dict(db.execute("select task_id, state from task_instance where run_id = ?", (run_id,)).fetchall())
    return DagRunResult(result.returncode, output, run_id, state, tasks)


_API_PROBE = r"""
import json, sys
from fastapi.testclient import TestClient
from airflow.api_fastapi.app import create_app, get_auth_manager
from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

client = TestClient(create_app())  # the API server's app, with the package's entry-point plugin mounted
token = get_auth_manager().generate_jwt(SimpleAuthManagerUser(username="test", role="admin"))
answers = []
for path, authenticated in json.loads(sys.argv[1]):
    headers = {"Authorization": f"Bearer {token}"} if authenticated else {}
    response = client.get(path, headers=headers, follow_redirects=False)
    answers.append({"status": response.status_code, "headers": dict(response.headers), "text": response.text})
print(json.dumps(answers))
"""


def airflow_api(env: dict[str, str], *requests: tuple[str, bool]) -> list[dict]:
    """GET each ``(path, authenticated)`` from the Airflow API server's own app, in process on the run's database (as
    an admin of the simple auth manager, or with no credentials): ``[{"status", "headers", "text"}, ...]``."""
    result = subprocess.run(
        [str(BIN / "python"), "-c", _API_PROBE, json.dumps(requests)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=env.get("AIRFLOW_HOME"),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def extra_links(env: dict[str, str], run_id: str, task_id: str) -> dict[str, str | None]:
    """A task instance's extra links as the UI gets them (``GET .../dagRuns/<run>/taskInstances/<task>/links``)."""
    [answer] = airflow_api(
        env, (f"/api/v2/dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}/links", True)
    )
    assert answer["status"] == 200, answer
    return json.loads(answer["text"])["extra_links"]
