"""Fixtures of the DAG tests."""

from __future__ import annotations

import pytest

from support.airflow_harness import migrated_airflow


@pytest.fixture(scope="session")
def airflow_env(tmp_path_factory) -> dict[str, str]:
    """One migrated Airflow for every DAG run of the session (local and ECS mode): runs have their own ids."""
    return migrated_airflow(tmp_path_factory.mktemp("airflow_home"))
