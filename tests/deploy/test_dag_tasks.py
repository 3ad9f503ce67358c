"""The DAG's task bodies in process, where they need no AWS: what local mode's resolve_config composes."""

from __future__ import annotations

from pathlib import Path

from sentiment_pipeline.deploy import dag_tasks
from sentiment_pipeline.deploy import orchestration as orch


def test_local_mode_composes_the_train_and_package_commands_from_the_form_and_environment(monkeypatch, tmp_path):
    monkeypatch.setattr(dag_tasks, "_variable", lambda: None)  # no Airflow Variable configured
    monkeypatch.setenv("SENTIMENT_PIPELINE_DATA", str(tmp_path / "tweets.csv"))
    monkeypatch.setenv("SENTIMENT_PIPELINE_STORE", str(tmp_path / "runs"))
    form = {"data_uri": "", "epochs": 2, "stemmer": "porter"}

    config = dag_tasks.resolve_run_config("local", form, "manual__1", tmp_path / "project", "aws_default")

    assert config["data_uri"] == str(tmp_path / "tweets.csv") and config["store_uri"] == str(tmp_path / "runs")
    train, package = config["train_command"], config["package_command"]
    assert Path(train[0]).name == Path(package[0]).name == "sentiment-pipeline"
    assert (
        train[1:]
        == orch.run_command(
            str(tmp_path / "tweets.csv"), str(tmp_path / "runs"), "manual__1", [*orch.training_overrides(form)]
        )[1:]
    )
    assert package[-2:] == ["--project-dir", str(tmp_path / "project")]
    assert config["model_tag"] == orch.model_tag("manual__1") and config["bento_tag"] == orch.bento_tag("manual__1")
