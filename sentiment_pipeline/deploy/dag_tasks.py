"""The bodies of the DAGs' Python tasks (run time only; the DAG files stay thin).

Imports only the standard library, the package's light modules, and — inside functions — Airflow, its
Amazon provider's hooks and boto3: this runs in the Airflow image, which has no TensorFlow or BentoML.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from ..records import documents
from ..records.record import (
    DRIFT,
    GATE,
    MANIFEST,
    MONITOR_REPORT,
    SWEEP,
    SWEEP_REPORT,
    check_run_id,
    monitoring_key,
    read_deployed_run_id,
    read_json,
    read_metrics,
    run_key,
    sweep_key,
)
from ..records.store import S3Store, Store, open_store, s3_config
from ..sweep_plan import plan_sweep, point_command, value_text
from . import orchestration as orch
from . import store_view
from .packaging import local_executable

log = logging.getLogger(__name__)
SMOKE_TEXT = "I love this, what a great day!"
LABELS = {"negative", "neutral", "positive"}


def _variable() -> Any:
    from airflow.sdk import Variable

    return Variable.get(orch.VARIABLE, default=None)


def resolve_run_config(
    mode: str, form: Mapping[str, Any], run_id: str, project_dir: Path, aws_conn_id: str | None = "aws_default"
) -> dict[str, Any]:
    """Everything the run's tasks need, composed once at run time (the only place configuration is read)."""
    overrides = orch.training_overrides(form)
    if mode == "local":
        return _local_config(form, run_id, overrides, project_dir)
    config = orch.parse_config(_variable())
    _check_region(aws_conn_id, config["region"])
    data = orch.choose(form.get("data_uri"), None, config["data_uri"], "dataset URI")
    eval_data = orch.choose_optional(form.get("eval_data_uri"), orch.EVAL_DATA_ENV, config[orch.EVAL_DATA_KEY])
    store = config["store_uri"]
    image = orch.image_uri(config["bento_repository_url"], run_id)
    context = orch.context_uri(store, run_id)
    env = {"AWS_DEFAULT_REGION": config["region"], "SENTIMENT_PIPELINE_STORE": store, "AIRFLOW_DAG_RUN_ID": run_id}
    training, builder = config["training_container"], config["image_builder_container"]
    return {
        **config,
        "mode": mode,
        "run_id": run_id,
        "data_uri": data,
        "eval_data_uri": eval_data,
        "image": image,
        "model_tag": orch.model_tag(run_id),
        "report_links": orch.report_links(store, run_id, config["region"]),  # the train task's extra links
        "network_configuration": orch.network_configuration(config),
        "training_overrides": orch.container_overrides(
            training,
            orch.run_command(data, store, run_id, overrides, eval_data),
            {**env, "SENTIMENT_PIPELINE_DATA": data},
        ),
        "gate_environment": env,  # plan_gate composes the gate container's command once it knows what is deployed
        "gate_task_definition": config["training_task_definition"],
        "gate_container": training,
        "gate_log_stream_prefix": config["training_log_stream_prefix"],
        "package_task_definition": config["training_task_definition"],
        "package_container": training,
        "package_log_stream_prefix": config["training_log_stream_prefix"],
        "package_overrides": orch.container_overrides(training, orch.package_command(store, run_id), env),
        "image_builder_overrides": orch.container_overrides(builder, orch.kaniko_command(context, image), {}),
    }


def _check_region(aws_conn_id: str | None, region: str) -> None:
    """EcsRunTaskOperator's region is not templated: it is the connection's, which must be the Variable's."""
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    connection_region = AwsBaseHook(aws_conn_id=aws_conn_id, client_type="ecs").conn_region_name
    if connection_region != region:
        raise orch.ConfigError(
            f"the AWS connection {aws_conn_id!r} uses region {connection_region!r} but the infrastructure is in "
            f"{region!r}: set region_name in the connection's extra (or AWS_DEFAULT_REGION)"
        )


def _local_config(form: Mapping[str, Any], run_id: str, overrides: list[str], project_dir: Path) -> dict[str, Any]:
    raw = _variable()
    configured = json.loads(raw) if isinstance(raw, str) and raw.strip().startswith("{") else (raw or {})
    sample = project_dir / "data" / "sample.csv"
    data = orch.choose(form.get("data_uri"), "SENTIMENT_PIPELINE_DATA", configured.get("data_uri") or str(sample), "")
    store = orch.choose(
        None, "SENTIMENT_PIPELINE_STORE", configured.get("store_uri") or str(project_dir / "artifacts"), ""
    )
    eval_data = orch.choose_optional(form.get("eval_data_uri"), orch.EVAL_DATA_ENV, configured.get(orch.EVAL_DATA_KEY))
    if data == str(sample) and not sample.exists():  # `airflow dags test` with nothing configured
        orch.run_streamed([local_executable("sentiment-pipeline"), "sample", "--out", str(sample)])
    command = orch.run_command(data, store, run_id, overrides, eval_data)
    exe = local_executable("sentiment-pipeline")
    return {
        "mode": "local",
        "run_id": run_id,
        "data_uri": data,
        "eval_data_uri": eval_data,
        "store_uri": store,
        "model_tag": orch.model_tag(run_id),
        "bento_tag": orch.bento_tag(run_id),
        # the train task's extra links: the store as the Airflow web server serves it (store_view), or the S3 console
        "report_links": orch.report_links(store, run_id, configured.get("region"), store_view.served_url(store)),
        "train_command": [exe, *command[1:]],
        "package_command": [exe, *orch.package_command(store, run_id)[1:], "--project-dir", str(project_dir)],
    }


def open_run_store(store_uri: str, aws_conn_id: str | None) -> Store:
    """The store, with S3 reached through the Airflow connection (the provider's S3Hook) rather than env credentials,
    with the project's S3 timeouts and bounded retries (``store.s3_config``)."""
    if store_uri.startswith("s3://"):
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        return S3Store(store_uri, client=S3Hook(aws_conn_id=aws_conn_id, config=s3_config()).get_conn())
    return open_store(store_uri)


def deployed_run_id(config: Mapping[str, Any], store: Store, aws_conn_id: str | None) -> str | None:
    """The run the inference service serves now; None when nothing was deployed yet.

    ECS mode asks ECS (the service's task definition carries ``SENTIMENT_PIPELINE_RUN_ID``), so a manual
    rollback is seen as such; local mode reads ``deployed.json`` from the store.
    """
    if config["mode"] == "local":
        return read_deployed_run_id(store)
    from airflow.providers.amazon.aws.hooks.ecs import EcsHook

    client = EcsHook(aws_conn_id=aws_conn_id, region_name=config["region"]).conn
    services = client.describe_services(cluster=config["inference_cluster"], services=[config["inference_service"]])
    if not services.get("services"):
        raise orch.ConfigError(f"ECS service {config['inference_service']} not found in {config['inference_cluster']}")
    definition = client.describe_task_definition(taskDefinition=services["services"][0]["taskDefinition"])
    containers = definition["taskDefinition"]["containerDefinitions"]
    env = {
        e["name"]: e["value"]
        for c in containers
        if c.get("name") == config["inference_container"]
        for e in c.get("environment", [])
    }
    return env.get(orch.RUN_ID_ENV) or None  # none: the placeholder image terraform deploys first


def plan_gate(config: Mapping[str, Any], threshold: float, margin: float, aws_conn_id: str | None) -> dict[str, Any]:
    """The gate's command, once the deployed run is known: a local process, or the training container's overrides.

    Scoring needs the models (ONNX Runtime, the training image); this Airflow task only asks what is deployed.
    """
    store = open_run_store(config["store_uri"], aws_conn_id)
    deployed = deployed_run_id(config, store, aws_conn_id)
    command = orch.gate_command(
        config["store_uri"], config["run_id"], deployed, threshold, margin, config.get("eval_data_uri") or ""
    )
    log.info("deployed run: %s; the gate runs: %s", deployed or "none", " ".join(command))
    if config["mode"] == "local":
        return {"deployed_run_id": deployed, "command": [local_executable("sentiment-pipeline"), *command[1:]]}
    overrides = orch.container_overrides(config["gate_container"], command, config["gate_environment"])
    return {"deployed_run_id": deployed, "overrides": overrides}


def quality_gate(config: Mapping[str, Any], aws_conn_id: str | None) -> bool:
    """Read the decision ``sentiment-pipeline gate`` wrote for this run; log it with both scores and the interval."""
    store = open_run_store(config["store_uri"], aws_conn_id)
    key = run_key(config["run_id"], GATE)
    decision = documents.read_gate(store, config["run_id"])
    if decision is None:
        raise orch.ConfigError(f"{store.uri_for(key)} does not exist: the gate's evaluation did not record a decision")
    if decision.get("run_id") != config["run_id"]:
        raise orch.ConfigError(
            f"{store.uri_for(key)} decides on run {decision.get('run_id')!r}, not {config['run_id']}"
        )
    deployed, interval = decision.get("deployed") or {}, decision.get("interval") or {}
    unusable = decision.get("deployed_unusable") or {}  # its record failed its check: held, not compared
    log.info(
        "quality gate %s: run %s (macro-F1 %.4f on its %s) vs deployed %s (%s); interval of candidate − deployed %s; "
        "threshold %.4f, margin %s; %s; report %s",
        decision["decision"].upper(),
        config["run_id"],
        decision["candidate"]["macro_f1"],
        decision["candidate"]["scored_on"],
        deployed.get("run_id") or unusable.get("run_id", "none"),
        f"{deployed['macro_f1']:.4f} on the same texts"
        if deployed
        else ("its record failed its check" if unusable else "the threshold alone decides"),
        f"{interval['delta']:+.4f} [{interval['low']:+.4f}, {interval['high']:+.4f}]" if interval else "n/a",
        decision["threshold"],
        decision["margin"],
        decision["reason"],
        decision.get("report") or "none",
    )
    return bool(decision["promote"])


def run_local_command(command: list[str], cwd: Path | None = None) -> dict[str, Any]:
    """Run a ``sentiment-pipeline`` command locally (output into the task log); its JSON result is the XCom."""
    return orch.last_json_line(orch.run_streamed(command, cwd=cwd))


def deploy_to_ecs(config: Mapping[str, Any], aws_conn_id: str | None, poll_seconds: int, timeout: timedelta) -> dict:
    """Register a revision of the inference task definition with the new image, roll the service, wait stable.

    On a failed roll-out the ECS deployment circuit breaker (terraform's) rolls back; the waiter times out and
    this task fails. The new revision names its run, which is how the next quality gate knows what is deployed.
    """
    from airflow.providers.amazon.aws.hooks.ecs import EcsHook

    hook = EcsHook(aws_conn_id=aws_conn_id, region_name=config["region"])
    client = hook.conn
    cluster, service_name = config["inference_cluster"], config["inference_service"]
    services = client.describe_services(cluster=cluster, services=[service_name]).get("services", [])
    if not services or services[0].get("status") != "ACTIVE":
        raise orch.ConfigError(f"ECS service {service_name} is not active in cluster {cluster}")
    previous = services[0]["taskDefinition"]
    described = client.describe_task_definition(taskDefinition=previous, include=["TAGS"])
    environment = {"SENTIMENT_MODEL_TAG": config["model_tag"], orch.RUN_ID_ENV: config["run_id"]}
    capture = config.get(orch.CAPTURE_ENVIRONMENT_KEY)  # Terraform's capture settings; None: keep the running ones
    revision = orch.task_definition_revision(
        described["taskDefinition"],
        config["inference_container"],
        config["image"],
        {**(capture or {}), **environment},
        replaced=orch.CAPTURE_ENVIRONMENT_NAMES if capture is not None else (),
    )
    revision["family"] = config["inference_task_family"]  # tags are not copied: that would need ecs:TagResource
    arn = client.register_task_definition(**revision)["taskDefinition"]["taskDefinitionArn"]
    log.info("registered %s (was %s); updating service %s", arn, previous, service_name)
    client.update_service(cluster=cluster, service=service_name, taskDefinition=arn)
    hook.get_waiter("services_stable").wait(
        cluster=cluster,
        services=[service_name],
        WaiterConfig={"Delay": poll_seconds, "MaxAttempts": max(1, int(timeout.total_seconds() // poll_seconds))},
    )
    current = client.describe_services(cluster=cluster, services=[service_name])["services"][0]["taskDefinition"]
    if current != arn:
        raise RuntimeError(f"service {service_name} runs {current} after the deploy, not {arn} (rolled back?)")
    # What is deployed is now recorded by ECS itself (the revision's SENTIMENT_PIPELINE_RUN_ID): no store write.
    return {"task_definition": arn, "previous_task_definition": previous, "image": config["image"]}


def record_local_deployment(config: Mapping[str, Any], packaged: Mapping[str, Any]) -> dict[str, Any]:
    """Local mode: the bento just built is the deployed model; deployed.json says so for the next gate."""
    store = open_store(config["store_uri"])
    metrics = read_metrics(store, config["run_id"])
    deployed = documents.deployed_document(
        config["run_id"], metrics, bento_tag=packaged["bento_tag"], model_tag=packaged["model_tag"]
    )
    documents.write_deployed(store, deployed)
    return deployed


def _http(url: str, body: dict | None = None, timeout: float = 10) -> tuple[int, str]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (http(s) checked)
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def check_endpoint(endpoint: str, model_tag: str, wait_seconds: float = 300, delay: float = 2) -> dict[str, Any]:
    """/readyz answers 200 (retried for ``wait_seconds``), then one /predict names a label and the new model."""
    if not endpoint.startswith(("http://", "https://")):
        raise orch.ConfigError(f"endpoint {endpoint!r} is not http(s)")
    endpoint = endpoint.rstrip("/")
    deadline, last = time.monotonic() + wait_seconds, "no answer"
    while True:
        try:
            status, text = _http(f"{endpoint}/readyz")
            if status == 200:
                break
            last = f"HTTP {status} {text[:200]}"
        except OSError as exc:
            last = str(exc)
        if time.monotonic() > deadline:
            raise RuntimeError(f"{endpoint}/readyz not ready after {wait_seconds:.0f} s: {last}")
        time.sleep(delay)
    status, text = _http(f"{endpoint}/predict", {"text": SMOKE_TEXT}, timeout=30)
    if status != 200:
        raise RuntimeError(f"{endpoint}/predict answered HTTP {status}: {text[:500]}")
    prediction = json.loads(text)
    if prediction.get("label") not in LABELS:
        raise RuntimeError(f"{endpoint}/predict answered without a label: {text[:500]}")
    if prediction.get("model") != model_tag:
        raise RuntimeError(f"{endpoint} serves {prediction.get('model')}, not the new model {model_tag}")
    log.info("smoke test passed: %s -> %s", SMOKE_TEXT, prediction)
    return prediction


def smoke_test(config: Mapping[str, Any]) -> dict[str, Any]:
    """ECS mode: the load balancer's endpoint. Local mode: ``bentoml serve`` of the new bento on a free port."""
    if config["mode"] != "local":
        return check_endpoint(config["endpoint_url"], config["model_tag"])
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [
        local_executable("bentoml"),
        "serve",
        config["bento_tag"],
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    log.info("serving the new bento: %s", " ".join(command))
    env = {**os.environ, "BENTOML_DO_NOT_TRACK": "true", "SENTIMENT_MODEL_TAG": config["model_tag"]}
    output = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed below, after the server is gone)
    process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        return check_endpoint(f"http://127.0.0.1:{port}", config["model_tag"], wait_seconds=180, delay=1)
    except RuntimeError as exc:
        output.seek(0)
        raise RuntimeError(f"{exc}\nbentoml serve output:\n{output.read()[-3000:]}") from None
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)  # bentoml serve runs worker processes in its group
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        output.close()


# ---- the sentiment_monitoring DAG ------------------------------------------------------------------------------------
def resolve_monitor_config(
    mode: str, run_id: str, since: str, until: str, project_dir: Path, aws_conn_id: str | None = "aws_default"
) -> dict[str, Any]:
    """What the monitoring run's tasks need: the store, the captures, the served run and the ``monitor`` command.

    The report's id is the DAG run's id, so every attempt of the run names the same record.
    """
    monitor_id = check_run_id(run_id)
    if mode == "local":
        raw = _variable()
        configured = json.loads(raw) if isinstance(raw, str) and raw.strip().startswith("{") else (raw or {})
        store = orch.choose(
            None, "SENTIMENT_PIPELINE_STORE", configured.get("store_uri") or str(project_dir / "artifacts"), ""
        )
        captures = orch.choose(None, orch.CAPTURES_ENV, configured.get(orch.CAPTURES_KEY), "captures URI")
        command = orch.monitor_command(store, captures, "served", since, until, monitor_id)
        return {
            "mode": mode,
            "monitor_id": monitor_id,
            "store_uri": store,
            "captures_uri": captures,
            "monitor_command": [local_executable("sentiment-pipeline"), *command[1:]],
        }
    config = orch.parse_config(_variable())
    _check_region(aws_conn_id, config["region"])
    if not config[orch.CAPTURES_KEY]:
        raise orch.ConfigError(f"Variable {orch.VARIABLE!r} has no {orch.CAPTURES_KEY}: nothing to monitor")
    store = config["store_uri"]
    served = deployed_run_id({**config, "mode": mode}, open_run_store(store, aws_conn_id), aws_conn_id)
    if served is None:
        raise orch.ConfigError(f"no run is deployed on ECS service {config['inference_service']}: nothing to monitor")
    command = orch.monitor_command(store, config[orch.CAPTURES_KEY], served, since, until, monitor_id)
    log.info("served run: %s; the monitor runs: %s", served, " ".join(command))
    env = {"AWS_DEFAULT_REGION": config["region"], "SENTIMENT_PIPELINE_STORE": store, "AIRFLOW_DAG_RUN_ID": run_id}
    return {
        **config,
        "mode": mode,
        "monitor_id": monitor_id,
        "served_run_id": served,
        "network_configuration": orch.network_configuration(config),
        "monitor_task_definition": config["training_task_definition"],
        "monitor_container": config["training_container"],
        "monitor_log_stream_prefix": config["training_log_stream_prefix"],
        "monitor_overrides": orch.container_overrides(config["training_container"], command, env),
    }


def _monitoring_manifest(store: Store, monitor_id: str) -> dict[str, Any] | None:
    key = monitoring_key(monitor_id, MANIFEST)
    return read_json(store, key) if store.exists(key) else None


def run_monitor_locally(config: Mapping[str, Any]) -> dict[str, Any]:
    """Local mode: ``sentiment-pipeline monitor`` as a process; a retry finds the record its attempt left and reads
    it instead (``monitor`` refuses an existing id). A record that failed keeps its id: that fails the task."""
    store = open_store(config["store_uri"])
    existing = _monitoring_manifest(store, config["monitor_id"])
    if existing is not None:
        if existing.get("status") != "succeeded":
            raise orch.ConfigError(
                f"{store.uri_for(monitoring_key(config['monitor_id'], MANIFEST))} records a monitor that "
                f"{existing.get('status')}: {existing.get('error')} (trigger a new run)"
            )
        log.info("monitoring record %s exists already (an earlier attempt): reading it", config["monitor_id"])
        return {"monitor_id": config["monitor_id"], "run_id": existing.get("run_id"), "reused": True}
    return run_local_command(config["monitor_command"])


def read_monitoring_outcome(config: Mapping[str, Any], aws_conn_id: str | None) -> dict[str, Any]:
    """The monitor's outcome from the store (its manifest, then ``drift.json``), logged sentence by sentence."""
    store = open_run_store(config["store_uri"], aws_conn_id)
    monitor_id = config["monitor_id"]
    manifest = _monitoring_manifest(store, monitor_id)
    where = store.uri_for(monitoring_key(monitor_id, MANIFEST))
    if manifest is None:
        raise orch.ConfigError(f"{where} does not exist: the monitor recorded nothing")
    if manifest.get("status") != "succeeded":
        raise orch.ConfigError(f"{where}: the monitor {manifest.get('status')}: {manifest.get('error')}")
    drift_key = monitoring_key(monitor_id, DRIFT)
    if DRIFT not in {entry.get("path") for entry in manifest.get("files", [])} or not store.exists(drift_key):
        raise orch.ConfigError(f"{where} lists no {DRIFT}")
    summary = read_json(store, drift_key)
    sentences = [str(s) for s in summary.get("sentences") or []]
    report = store.uri_for(monitoring_key(monitor_id, MONITOR_REPORT))
    log.info(
        "monitor %s of run %s, %s captured answers (%s to %s): %s; report %s",
        monitor_id,
        manifest.get("run_id"),
        (manifest.get("captures") or {}).get("n"),
        (manifest.get("captures") or {}).get("since"),
        (manifest.get("captures") or {}).get("until"),
        "DRIFT" if summary.get("drift") else "no drift",
        report,
    )
    for sentence in sentences:
        log.info("  %s", sentence)
    return {
        "monitor_id": monitor_id,
        "run_id": manifest.get("run_id"),
        "drift": bool(summary.get("drift")),
        "reasons": list(summary.get("drift_reasons") or []),
        "sentences": sentences,
        "report": report,
    }


def drift_alert(outcome: Mapping[str, Any]) -> str | None:
    """The alert's message when the monitor found drift (its first sentence and the report), else None."""
    if not outcome.get("drift"):
        return None
    first = (outcome.get("sentences") or ["drift"])[0]
    return f"drift in run {outcome.get('run_id')}'s captured answers: {first} (report: {outcome.get('report')})"


# ---- sentiment_sweep ----------------------------------------------------------------------------------------------


def sweep_arguments(form: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """The form's ``grid`` ({"lstm_units": [16, 32]}) and ``params`` ({"epochs": 1}) as ``--grid``/``-p`` pairs."""
    grid, params = form.get("grid") or {}, form.get("params") or {}
    if not isinstance(grid, Mapping) or not all(isinstance(v, list) and v for v in grid.values()):
        raise orch.ConfigError(
            f'grid must map parameters to lists of values, e.g. {{"lstm_units": [16, 32]}}: {grid!r}'
        )
    if not isinstance(params, Mapping):
        raise orch.ConfigError(f'params must map parameters to values, e.g. {{"epochs": 1}}: {params!r}')
    grid_pairs = [f"{name}={','.join(value_text(v) for v in values)}" for name, values in grid.items()]
    return grid_pairs, [f"{name}={value_text(value)}" for name, value in params.items()]


def resolve_sweep_config(
    mode: str, form: Mapping[str, Any], run_id: str, project_dir: Path, aws_conn_id: str | None = "aws_default"
) -> dict[str, Any]:
    """The sweep checked before any task starts (``sweep_plan.plan_sweep``; its id is the DAG run's) and every
    command composed: one ``sentiment-pipeline run`` per point (a Fargate task, or a local process), then
    ``sentiment-pipeline sweep --rank-only`` over the points' records. A retried point runs its run id again."""
    grid_pairs, param_pairs = sweep_arguments(form)
    plan = plan_sweep(grid_pairs, param_pairs, check_run_id(run_id))
    if mode == "local":
        local = _local_config(form, run_id, [], project_dir)
        data, store, eval_data = local["data_uri"], local["store_uri"], local["eval_data_uri"] or None
        exe = local_executable("sentiment-pipeline")
        commands = [[exe, *point_command(plan, i, data, store, eval_data)[1:]] for i in range(len(plan.points))]
        rank = [exe, *orch.sweep_rank_command(data, store, plan.sweep_id, grid_pairs, param_pairs, eval_data)[1:]]
        return {"mode": mode, "sweep_id": plan.sweep_id, "store_uri": store, "point_commands": commands,
                "rank_command": rank, "points": len(plan.points)}  # fmt: skip
    config = orch.parse_config(_variable())
    _check_region(aws_conn_id, config["region"])
    data = orch.choose(form.get("data_uri"), None, config["data_uri"], "dataset URI")
    eval_data = orch.choose_optional(form.get("eval_data_uri"), orch.EVAL_DATA_ENV, config[orch.EVAL_DATA_KEY]) or None
    store, training = config["store_uri"], config["training_container"]
    env = {"AWS_DEFAULT_REGION": config["region"], "SENTIMENT_PIPELINE_STORE": store, "AIRFLOW_DAG_RUN_ID": run_id}
    spot = bool(form.get("fargate_spot"))
    return {
        **config,
        "mode": mode,
        "sweep_id": plan.sweep_id,
        "points": len(plan.points),
        "network_configuration": orch.network_configuration(config),
        # Fargate Spot: cheaper, and a point ECS takes back fails its task; its retry runs the same run id again
        "launch_type": None if spot else "FARGATE",
        "capacity_provider_strategy": [{"capacityProvider": "FARGATE_SPOT", "weight": 1}] if spot else None,
        "point_overrides": [
            orch.container_overrides(training, point_command(plan, i, data, store, eval_data), env)
            for i in range(len(plan.points))
        ],
        "rank_overrides": orch.container_overrides(
            training, orch.sweep_rank_command(data, store, plan.sweep_id, grid_pairs, param_pairs, eval_data), env
        ),
    }


def read_sweep_outcome(config: Mapping[str, Any], aws_conn_id: str | None) -> dict[str, Any]:
    """The ranking's ``sweep.json`` from the store: the best point, or the failure with its reason (every point
    failed, some did, or the ranking never wrote the document)."""
    store = open_run_store(config["store_uri"], aws_conn_id)
    key = sweep_key(config["sweep_id"], SWEEP)
    if not store.exists(key):
        raise orch.ConfigError(f"no {store.uri_for(key)}: the ranking did not finish (its task log says why)")
    document = read_json(store, key)
    report = store.uri_for(sweep_key(config["sweep_id"], SWEEP_REPORT))
    failed = document.get("failed_points") or []
    log.info("sweep %s: best %s of %d points; report %s", config["sweep_id"], document.get("best"),
             len(document.get("points") or []), report)  # fmt: skip
    if failed:
        raise orch.ConfigError(
            f"{len(failed)} of {len(document.get('points') or [])} points failed ({', '.join(failed)}); "
            f"best of the rest: {document.get('best') or 'none'}; report: {report}"
        )
    return {"sweep_id": config["sweep_id"], "best": document.get("best"), "report": report}


def resolve_best_point_config(
    mode: str, form: Mapping[str, Any], outcome: Mapping[str, Any], project_dir: Path, aws_conn_id: str | None
) -> dict[str, Any]:
    """What the gate-and-deploy tasks need for the sweep's best point: ``resolve_run_config`` for its run id, with
    the sweep's data and evaluation file (the gate scores on the same texts as the ranking)."""
    best = outcome.get("best")
    if not best:
        raise orch.ConfigError(f"sweep {outcome.get('sweep_id')} has no best point to promote")
    files = {name: form[name] for name in ("data_uri", "eval_data_uri") if form.get(name)}
    return resolve_run_config(mode, files, best, project_dir, aws_conn_id)
