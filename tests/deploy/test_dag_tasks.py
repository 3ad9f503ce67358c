"""The DAG's task bodies in process, where they need no AWS: what local mode's resolve_config composes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sentiment_pipeline.deploy import dag_tasks
from sentiment_pipeline.deploy import orchestration as orch
from support.records import write_succeeded_run


def test_local_mode_composes_the_train_and_package_commands_from_the_form_and_environment(monkeypatch, tmp_path):
    monkeypatch.setattr(dag_tasks, "_variable", lambda: None)  # no Airflow Variable configured
    monkeypatch.setenv("SENTIMENT_PIPELINE_DATA", str(tmp_path / "tweets.csv"))
    monkeypatch.setenv("SENTIMENT_PIPELINE_STORE", str(tmp_path / "runs"))
    monkeypatch.setenv("SENTIMENT_PIPELINE_MODE", "local")  # as `make airflow` sets it for every Airflow process
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
    # the store as local-mode Airflow's web server serves it (the package's Airflow plugin), where the UI shows links
    assert config["report_links"] == {
        "Run reports": "/sentiment-store/runs/manual__1/reports/",
        "Runs index": "/sentiment-store/index.html#run-manual__1",
    }


def test_a_local_store_no_airflow_web_server_serves_is_linked_as_files(monkeypatch, tmp_path):
    monkeypatch.setattr(dag_tasks, "_variable", lambda: None)
    for name in ("SENTIMENT_PIPELINE_STORE", "SENTIMENT_PIPELINE_DATA", "SENTIMENT_PIPELINE_EVAL_DATA"):
        monkeypatch.delenv(name, raising=False)  # `airflow dags test` with nothing set: <project>/artifacts
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "sample.csv").write_text("text,sentiment\n")

    config = dag_tasks.resolve_run_config("local", {}, "manual__1", tmp_path, "aws_default")

    assert config["report_links"] == {
        "Run reports": (tmp_path / "artifacts" / "runs" / "manual__1" / "reports").as_uri() + "/",
        "Runs index": (tmp_path / "artifacts" / "index.html").as_uri() + "#run-manual__1",
    }


def test_ecs_mode_links_the_runs_reports_in_the_s3_console_of_the_variables_region(monkeypatch):
    strings = [k for k in orch.CONFIG_KEYS if k not in ("subnets", "security_groups", "region", "endpoint_url")]
    variable = {
        **dict.fromkeys(strings, "x"),
        "region": "eu-west-1",
        "subnets": ["subnet-1"],
        "security_groups": ["sg-1"],
        "data_uri": "s3://data/tweets.csv",
        "store_uri": "s3://artifacts/pipeline",
        "endpoint_url": "http://alb.example",
    }
    monkeypatch.setattr(dag_tasks, "_variable", lambda: json.dumps(variable))
    monkeypatch.setattr(dag_tasks, "_check_region", lambda conn, region: None)  # no AWS connection here

    config = dag_tasks.resolve_run_config("ecs", {}, "scheduled__2026-11-24T00:00:00+00:00", Path("/p"), "aws_default")

    assert config["report_links"] == orch.report_links(
        "s3://artifacts/pipeline", "scheduled__2026-11-24T00:00:00+00:00", "eu-west-1"
    )
    assert config["report_links"]["Run reports"].startswith(
        "https://console.aws.amazon.com/s3/buckets/artifacts?region=eu-west-1"
        "&prefix=pipeline/runs/scheduled__2026-11-24T00%3A00%3A00%2B00%3A00/reports/"
    )


class _FakeTI:
    """What the links see of a running task instance: its key fields, its task and xcom_push."""

    dag_id, run_id, task_id, map_index = "sentiment_training", "manual__1", "train", -1

    def __init__(self):
        self.task, self.pushed = None, {}

    def xcom_push(self, key, value):
        self.pushed[key] = value


def test_the_train_task_publishes_the_links_resolve_config_composed(monkeypatch):
    from airflow.sdk.execution_time.xcom import XCom

    from sentiment_pipeline.deploy import airflow_links

    composed = {"Run reports": "file:///s/runs/manual__1/reports/", "Runs index": "file:///s/index.html#run-manual__1"}
    asked = []

    def get_one(**kwargs):
        asked.append(kwargs)
        return composed

    monkeypatch.setattr(XCom, "get_one", get_one)
    ti = _FakeTI()

    airflow_links.publish_report_links({"ti": ti})  # when the task starts (Airflow pushes them again at its end)

    assert ti.pushed == {
        "_link_RunReportsLink": composed["Run reports"],
        "_link_RunsIndexLink": composed["Runs index"],
    }
    assert asked[0] == {
        "key": "report_links",
        "dag_id": "sentiment_training",
        "task_id": "resolve_config",
        "run_id": "manual__1",
    }
    monkeypatch.setattr(XCom, "get_one", lambda **kwargs: None)  # resolve_config has not run: no link, no push
    ti = _FakeTI()
    airflow_links.publish_report_links({"ti": ti})
    assert ti.pushed == {} and airflow_links.report_links()[0].get_link(None, ti_key=ti) == ""


def test_the_local_gate_is_told_none_when_nothing_is_deployed_and_fails_on_a_deployed_run_the_store_lacks(
    tmp_path, capsys
):
    """plan_gate's command, run as the evaluate task runs it: `--deployed none` with no deployed.json (the threshold
    decides); a deployed.json naming a run the store does not hold fails the task instead of promoting."""
    from sentiment_pipeline.cli import main

    store = tmp_path / "store"
    write_succeeded_run(store, "manual__1")
    config = {"mode": "local", "store_uri": str(store), "run_id": "manual__1", "eval_data_uri": ""}

    plan = dag_tasks.plan_gate(config, 0.5, 0.005, None)
    assert plan["deployed_run_id"] is None and plan["command"][6:8] == ["--deployed", "none"]
    assert main(plan["command"][1:]) == 0
    assert json.loads((store / "runs" / "manual__1" / "gate.json").read_text())["decision"] == "promote"

    (store / "deployed.json").write_text(json.dumps({"run_id": "deleted-run"}))
    plan = dag_tasks.plan_gate(config, 0.5, 0.005, None)
    assert plan["command"][6:8] == ["--deployed", "deleted-run"]
    capsys.readouterr()
    assert main(plan["command"][1:]) == 2
    assert "error: the deployed run deleted-run is not in" in capsys.readouterr().err


def test_quality_gate_logs_a_hold_on_a_changed_deployed_record_as_such(tmp_path, caplog):
    """The DAG's quality_gate task on such a decision: skipped downstream, and its log line names the deployed run
    and why it was not compared (it said "vs deployed none (the threshold alone decides)")."""
    from sentiment_pipeline.cli import main

    store = tmp_path / "store"
    write_succeeded_run(store, "manual__2")
    write_succeeded_run(store, "champion")
    (store / "runs" / "champion" / "model" / "model.onnx").write_bytes(b"replaced")
    (store / "deployed.json").write_text(json.dumps({"run_id": "champion"}))
    config = {"mode": "local", "store_uri": str(store), "run_id": "manual__2", "eval_data_uri": ""}
    assert main(dag_tasks.plan_gate(config, 0.5, 0.005, None)["command"][1:]) == 0

    with caplog.at_level("INFO", logger=dag_tasks.log.name):
        assert dag_tasks.quality_gate(config, None) is False
    line = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("quality gate HOLD"))
    assert "vs deployed champion (its record failed its check)" in line, line
    assert "model/model.onnx does not match its manifest" in line


def test_the_sweeps_best_point_is_configured_as_a_training_run_of_its_own_id(monkeypatch, tmp_path):
    monkeypatch.setattr(dag_tasks, "_variable", lambda: None)
    monkeypatch.setenv("SENTIMENT_PIPELINE_STORE", str(tmp_path / "runs"))
    form = {"grid": {"lstm_units": [8, 16]}, "params": {"epochs": 1}, "data_uri": str(tmp_path / "t.csv")}
    outcome = {"sweep_id": "manual__s", "best": "manual__s-p02", "report": "sweep.html"}

    config = dag_tasks.resolve_best_point_config("local", form, outcome, tmp_path / "project", "aws_default")

    assert config["run_id"] == "manual__s-p02" and config["model_tag"] == orch.model_tag("manual__s-p02")
    assert config["data_uri"] == str(tmp_path / "t.csv") and config["store_uri"] == str(tmp_path / "runs")
    assert config["package_command"][1:4] == ["package", "--store", str(tmp_path / "runs")]
    with pytest.raises(orch.ConfigError, match="^sweep manual__s has no best point to promote$"):
        dag_tasks.resolve_best_point_config("local", form, {**outcome, "best": None}, tmp_path, "aws_default")
