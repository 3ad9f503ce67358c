"""The sentiment_monitoring DAG: parses light in both modes, has the designed tasks; `airflow dags test` in local mode
records a report on a served run's captured answers, and on drift fails its alert after requesting a retrain; the
training DAG listens to that request when told to."""

from __future__ import annotations

import io
import json
import shutil
import sqlite3
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sentiment_pipeline.deploy import dag_tasks
from sentiment_pipeline.deploy import orchestration as orch
from sentiment_pipeline.errors import ConfigError
from sentiment_pipeline.records import record
from sentiment_pipeline.records.store import LocalStore
from support.airflow_harness import clean_environ, dags_test
from support.project import BIN, ROOT, SAMPLE_RUN_ID
from support.records import capture_segment, unlike_tweets

DAG_ID = "sentiment_monitoring"
TASKS = ("resolve_monitor", "monitor", "read_outcome", "request_retrain", "alert")
DESIGNED = {
    "resolve_monitor": ["monitor", "read_outcome"],
    "monitor": ["read_outcome"],
    "read_outcome": ["alert", "request_retrain"],
    "request_retrain": ["alert"],  # the retrain request is emitted before the alert fails the run
    "alert": [],
}

PROBE = r"""
import json, sys
import airflow.sdk, airflow.providers.amazon.aws.operators.ecs  # the DAG processor has these loaded already
import botocore.endpoint

def no_network(*args, **kwargs):
    raise AssertionError("AWS call at parse time")

botocore.endpoint.Endpoint.make_request = no_network
import socket
socket.socket.connect = no_network
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
dag = bag.dags.get("sentiment_monitoring")
training = bag.dags.get("sentiment_training")
schedule = training.timetable if training else None
print(json.dumps({
    "errors": {k: str(v) for k, v in bag.import_errors.items()},
    "heavy": [m for m in ("tensorflow", "bentoml", "pandas", "keras", "sklearn") if m in sys.modules],
    "tasks": {t.task_id: sorted(t.downstream_task_ids) for t in dag.tasks} if dag else None,
    "types": {t.task_id: type(t).__name__ for t in dag.tasks} if dag else None,
    "outlets": {t.task_id: [a.name for a in t.outlets] for t in dag.tasks if t.outlets} if dag else None,
    "params": dag.params.validate() if dag else None,
    "schedule": str(dag.schedule) if dag else None,
    "training_schedule": type(schedule).__name__,
    "training_timetable": str(getattr(schedule, "timetable", None)),
    "training_assets": sorted(str(a.name) for a in schedule.asset_condition.objects)
    if getattr(schedule, "asset_condition", None) is not None else None,
    "training_schedule_text": str(training.schedule) if training else None,
}, default=str))
"""


def parse(tmp_path, mode: str | None = None, **extra_env) -> dict:
    """Load the dags folder in a fresh interpreter with no AWS credentials and sockets disabled."""
    env = {**clean_environ(), "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False", **extra_env}
    if mode:
        env["SENTIMENT_PIPELINE_MODE"] = mode
    result = subprocess.run(
        [str(BIN / "python"), "-c", PROBE, str(ROOT / "dags")], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_ecs_mode_parses_light_and_runs_the_monitor_as_a_fargate_task(tmp_path):
    info = parse(tmp_path)  # ecs is the default mode
    assert info["errors"] == {} and info["heavy"] == []
    assert info["tasks"] == DESIGNED
    assert info["types"]["monitor"] == "EcsRunTaskOperator"
    assert info["outlets"] == {"request_retrain": ["sentiment_pipeline_retrain"]}
    assert info["params"] == {"retrain_on_drift": False}
    assert info["schedule"] == "@daily"
    assert info["training_schedule_text"] == "@weekly"  # unchanged without SENTIMENT_PIPELINE_RETRAIN_ON_DRIFT


def test_local_mode_has_the_same_tasks_without_ecs(tmp_path):
    info = parse(tmp_path, "local", SENTIMENT_MONITORING_SCHEDULE="@hourly")
    assert info["errors"] == {} and info["heavy"] == []
    assert info["tasks"] == DESIGNED
    assert "EcsRunTaskOperator" not in info["types"].values()
    assert info["schedule"] == "@hourly"


@pytest.mark.parametrize("value", ["1", "true"])
def test_training_is_scheduled_on_its_time_or_a_retrain_request_when_told_to(tmp_path, value):
    info = parse(tmp_path, SENTIMENT_PIPELINE_RETRAIN_ON_DRIFT=value)
    assert info["errors"] == {}
    assert info["training_schedule"] == "AssetOrTimeSchedule"
    assert "CronTriggerTimetable(expression='0 0 * * 0', timezone='UTC'" in info["training_timetable"]  # @weekly
    assert info["training_assets"] == ["sentiment_pipeline_retrain"]


def test_training_with_no_schedule_runs_on_retrain_requests_only(tmp_path):
    info = parse(tmp_path, SENTIMENT_PIPELINE_RETRAIN_ON_DRIFT="1", SENTIMENT_PIPELINE_SCHEDULE="none")
    assert info["errors"] == {} and info["training_schedule"] == "AssetTriggeredTimetable"
    assert info["training_assets"] == ["sentiment_pipeline_retrain"]


def test_schedules_and_windows():
    assert orch.cron_of("@weekly") == "0 0 * * 0" and orch.cron_of("30 2 * * 1") == "30 2 * * 1"
    with pytest.raises(ConfigError):
        orch.cron_of("@fortnightly")
    assert orch.retrain_on_drift({"SENTIMENT_PIPELINE_RETRAIN_ON_DRIFT": "True"})
    assert not orch.retrain_on_drift({}) and not orch.retrain_on_drift({"SENTIMENT_PIPELINE_RETRAIN_ON_DRIFT": "0"})
    day, now = timedelta(days=1), datetime(2026, 12, 5, tzinfo=UTC)
    start = now - timedelta(hours=6)
    assert orch.monitor_window(start, now, None, day) == (start, now)  # a data interval
    assert orch.monitor_window(now, now, None, day) == (now - day, now)  # a cron trigger's empty interval
    assert orch.monitor_window(None, None, now, day) == (now - day, now)
    command = orch.monitor_command("s3://b/p", "s3://c/q", "served", "a", "b", "scheduled__2026-12-05T00:00:00+00:00")
    assert command[:2] == ["sentiment-pipeline", "monitor"] and command[-2:] == [
        "--monitor-id",
        "scheduled__2026-12-05T00:00:00+00:00",
    ]
    config = {k: "s3://x/y" if k.endswith("_uri") else "x" for k in orch._STRING_KEYS}
    config.update(endpoint_url="https://e", subnets=["s"], security_groups=["g"])
    assert orch.parse_config(config)[orch.CAPTURES_KEY] == ""  # optional: the training DAG does without it
    with pytest.raises(ConfigError, match="captures_uri must be an s3://"):
        orch.parse_config({**config, "captures_uri": "/local"})


def _write_record(store_dir: Path, monitor_id: str, status: str, drift: bool | None) -> None:
    store = LocalStore(store_dir)
    files = []
    if drift is not None:
        summary = {"drift": drift, "drift_reasons": ["prediction"] if drift else [], "sentences": ["Labels moved."]}
        files.append(documents_file(store, monitor_id, summary))
    manifest = {"monitor_id": monitor_id, "run_id": SAMPLE_RUN_ID, "status": status, "error": None, "files": files}
    store.write_bytes(record.monitoring_key(monitor_id, record.MANIFEST), record.to_json_bytes(manifest))


def documents_file(store, monitor_id: str, summary: dict) -> dict:
    from sentiment_pipeline.records import documents

    return documents.write_monitoring_file(store, monitor_id, record.DRIFT, record.to_json_bytes(summary))


def test_a_retried_monitor_reads_the_record_its_first_attempt_left(tmp_path):
    run_id = "scheduled__2026-12-05T00:00:00+00:00"
    config = {"store_uri": str(tmp_path), "monitor_id": run_id, "monitor_command": ["false"]}  # never run here
    _write_record(tmp_path, run_id, "succeeded", True)
    assert dag_tasks.run_monitor_locally(config) == {"monitor_id": run_id, "run_id": SAMPLE_RUN_ID, "reused": True}
    outcome = dag_tasks.read_monitoring_outcome(config, None)
    assert outcome["drift"] is True and outcome["sentences"] == ["Labels moved."]
    assert dag_tasks.drift_alert(outcome).startswith(f"drift in run {SAMPLE_RUN_ID}'s captured answers: Labels moved.")

    _write_record(tmp_path, "failed-one", "failed", None)
    with pytest.raises(ConfigError, match="records a monitor that failed"):
        dag_tasks.run_monitor_locally({**config, "monitor_id": "failed-one"})
    with pytest.raises(ConfigError, match="does not exist"):
        dag_tasks.read_monitoring_outcome({**config, "monitor_id": "none-yet"}, None)


# ---- `airflow dags test sentiment_monitoring` in local mode ---------------------------------------------------------
def retrain_events(env: dict[str, str], run_id: str) -> int:
    with sqlite3.connect(Path(env["AIRFLOW_HOME"]) / "airflow.db") as db:
        (count,) = db.execute(
            "select count(*) from asset_event e join asset a on a.id = e.asset_id "
            "where a.name = 'sentiment_pipeline_retrain' and e.source_dag_id = ? and e.source_run_id = ?",
            (DAG_ID, run_id),
        ).fetchone()
    return count


def _capture(folder: Path, texts: list[str], labels: list[str]) -> None:
    """The service's captures of ``texts`` answered ``labels`` by the sample run's model an hour ago."""
    capture_segment(SAMPLE_RUN_ID, texts, labels, LocalStore(folder))


@pytest.fixture
def served_store(sample_run, tmp_path) -> Path:
    store = tmp_path / "store"
    shutil.copytree(sample_run, store)
    (store / "deployed.json").write_text(json.dumps({"run_id": SAMPLE_RUN_ID}))
    return store


def _env(airflow_env, store: Path, captured: Path) -> dict[str, str]:
    return {
        **airflow_env,
        "SENTIMENT_PIPELINE_MODE": "local",
        "SENTIMENT_PIPELINE_STORE": str(store),
        "SENTIMENT_CAPTURE_URI": str(captured),
    }


@pytest.mark.slow
def test_local_mode_records_a_report_on_the_served_runs_captured_answers(airflow_env, served_store, tmp_path):
    import pandas as pd

    from sentiment_pipeline.inference.predictor import load_predictor

    store = LocalStore(served_store)
    manifest = record.succeeded_manifest(store, SAMPLE_RUN_ID)
    raw = record.read_verified(store, SAMPLE_RUN_ID, record.split_path("test"), manifest)
    texts = pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False)["text"].tolist()
    texts = (texts * (150 // len(texts) + 1))[:150]
    predictor = load_predictor(record.download_model(store, SAMPLE_RUN_ID, tmp_path / "model"))
    _capture(tmp_path / "captures", texts, [answer["label"] for answer in predictor.predict(texts)])

    result = dags_test(_env(airflow_env, served_store, tmp_path / "captures"), {}, dag_id=DAG_ID)

    states = result.task_states
    assert {t: states[t] for t in TASKS[:3]} == dict.fromkeys(TASKS[:3], "success"), result.output[-6000:]
    written = json.loads((served_store / record.monitoring_key(result.run_id, record.MANIFEST)).read_text())
    assert written["status"] == "succeeded" and written["run_id"] == SAMPLE_RUN_ID and written["captures"]["n"] == 150
    assert states["request_retrain"] == "skipped"  # retrain_on_drift is off by default
    # whatever the checks found on these texts, the alert says it: failed on drift, else passed
    assert states["alert"] == ("failed" if written["drift"] else "success")
    assert result.state == ("failed" if written["drift"] else "success")
    assert retrain_events(_env(airflow_env, served_store, tmp_path), result.run_id) == 0


@pytest.mark.slow
def test_drift_requests_a_retrain_then_fails_the_alert_with_the_reason(airflow_env, served_store, tmp_path):
    # texts of no kind the model trained on, all answered "negative": the label shares and the words moved
    texts = unlike_tweets(150)
    _capture(tmp_path / "captures", texts, ["negative"] * len(texts))
    env = _env(airflow_env, served_store, tmp_path / "captures")

    result = dags_test(env, {"retrain_on_drift": True}, dag_id=DAG_ID)

    assert result.state == "failed", result.output[-6000:]
    assert result.task_states == {
        "resolve_monitor": "success",
        "monitor": "success",
        "read_outcome": "success",
        "request_retrain": "success",
        "alert": "failed",
    }, result.output[-6000:]
    written = json.loads((served_store / record.monitoring_key(result.run_id, record.MANIFEST)).read_text())
    assert written["drift"] is True
    assert f"drift in run {SAMPLE_RUN_ID}'s captured answers:" in result.output
    assert retrain_events(env, result.run_id) == 1


@pytest.mark.slow
def test_too_few_captured_answers_fail_the_monitor_with_the_reason(airflow_env, served_store, tmp_path):
    _capture(tmp_path / "captures", ["a quiet day"] * 10, ["neutral"] * 10)

    result = dags_test(_env(airflow_env, served_store, tmp_path / "captures"), {}, dag_id=DAG_ID)

    assert result.state == "failed" and result.task_states["monitor"] == "failed", result.output[-6000:]
    assert "only 10 captured answers" in result.output
    assert not (served_store / "monitoring").exists()
