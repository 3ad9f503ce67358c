"""`airflow dags test sentiment_training` in local mode: train, gate, register + build the bento, serve it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from support.airflow_harness import dags_test
from support.project import BIN, TINY

pytestmark = pytest.mark.slow

TASKS = ("resolve_config", "train", "quality_gate", "package", "deploy", "smoke_test")


@pytest.fixture(scope="module")
def sample_csv(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("data") / "sample.csv"  # the synthetic sample
    subprocess.run([str(BIN / "sentiment-pipeline"), "sample", "--out", str(out)], check=True, capture_output=True)
    return out


def test_local_mode_runs_the_whole_dag_and_leaves_a_run_a_model_and_a_bento(airflow_env, sample_csv, tmp_path):
    store = tmp_path / "store"
    env = {
        **airflow_env,
        "SENTIMENT_PIPELINE_MODE": "local",
        "SENTIMENT_PIPELINE_DATA": str(sample_csv),
        "SENTIMENT_PIPELINE_STORE": str(store),
        "BENTOML_HOME": str(tmp_path / "bentoml"),
    }
    result = dags_test(env, {**TINY, "min_macro_f1": 0.0})

    assert result.returncode == 0 and result.state == "success", result.output[-6000:]
    assert result.task_states == dict.fromkeys(TASKS, "success")
    run_dir = store / "runs" / result.run_id
    assert json.loads((run_dir / "manifest.json").read_text())["status"] == "succeeded"
    assert json.loads((store / "latest.json").read_text())["run_id"] == result.run_id
    params = json.loads((run_dir / "params.json").read_text())
    assert params["data"]["uri"] == str(sample_csv) and params["params"]["epochs"] == 1
    assert (run_dir / "bento" / "context.tar.gz").stat().st_size > 0

    deployed = json.loads((store / "deployed.json").read_text())
    assert deployed["run_id"] == result.run_id
    listed = {}
    for kind in ("models", "list"):
        out = subprocess.run(
            [str(BIN / "bentoml"), *([kind] if kind == "models" else []), "list", "-o", "json"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        listed[kind] = [entry["tag"] for entry in json.loads(out)]
    assert listed["models"] == [deployed["model_tag"]]
    assert listed["list"] == [deployed["bento_tag"]]
    # the smoke test served that bento and its /predict named the new model
    assert f"'model': '{deployed['model_tag']}'" in result.output
    assert "quality gate passed" in result.output
