"""Fixtures of the DAG tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from support.airflow_harness import airflow_environment, migrated_airflow
from support.project import BIN
from support.shared import made_once


@pytest.fixture(scope="session")
def airflow_env(tmp_path_factory) -> dict[str, str]:
    """One migrated Airflow for every DAG run of this process (local and ECS mode): runs have their own ids. The
    database is migrated once for the whole test run and each xdist worker gets a copy of it (a sqlite file that
    several `airflow dags test` processes wrote at once would fail them with "database is locked")."""
    migrated = made_once(tmp_path_factory, "airflow-db", lambda folder: migrated_airflow(folder / "home"))
    home = tmp_path_factory.mktemp("airflow_home")
    shutil.copy2(migrated / "home" / "airflow.db", home / "airflow.db")
    return airflow_environment(home)


@pytest.fixture(scope="session")
def sample_csv(tmp_path_factory) -> Path:
    """The synthetic sample (`sentiment-pipeline sample`). Session-scoped, not module-scoped, so that the local-mode
    DAG tests may run in different xdist workers (support/schedule.py keeps a module's tests together when their
    fixtures are module-scoped)."""
    out = tmp_path_factory.mktemp("data") / "sample.csv"
    subprocess.run([str(BIN / "sentiment-pipeline"), "sample", "--out", str(out)], check=True, capture_output=True)
    return out
