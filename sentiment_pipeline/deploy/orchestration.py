"""What the Airflow DAG decides, kept out of the DAG file so it can be tested without Airflow.

The configuration contract with Terraform, the commands the training and image-builder containers run,
the quality gate, and the copy of an ECS task definition with a new image. Imports only the standard
library and the package's light modules (no pandas, TensorFlow, BentoML): the Airflow image installs the
package without its dependencies and imports this module in its tasks.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
from collections import deque
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..errors import CommandFailed, ConfigError
from ..params import DEFAULTS, FORM_PARAMETERS, ParamError, parse_overrides, resolve
from ..records.record import INDEX, REPORTS_DIR, check_run_id, run_key
from ..records.store import LocalStore, S3Store, open_store
from .packaging import BENTO_NAME, DOCKERFILE, context_key
from .registry import MODEL_NAME, bento_version

MODE_ENV = "SENTIMENT_PIPELINE_MODE"
MODES = ("ecs", "local")
VARIABLE = "sentiment_pipeline"  # the Airflow Variable `make airflow-config` writes from terraform outputs
RUN_ID_ENV = "SENTIMENT_PIPELINE_RUN_ID"  # ECS mode: set on the inference container, names the served run

_STRING_KEYS = (
    "region",
    "cluster",
    "training_task_definition",
    "training_container",
    "image_builder_task_definition",
    "image_builder_container",
    "log_group",
    "training_log_stream_prefix",
    "image_builder_log_stream_prefix",
    "data_uri",
    "store_uri",
    "bento_repository_url",
    "inference_cluster",
    "inference_service",
    "inference_task_family",
    "inference_container",
    "endpoint_url",
)
_LIST_KEYS = ("subnets", "security_groups")
CONFIG_KEYS = _STRING_KEYS + _LIST_KEYS
# Optional: the fixed evaluation file every run and the gate score on ("" or absent: none; terraform's eval_data_key).
EVAL_DATA_KEY = "eval_data_uri"
EVAL_DATA_ENV = "SENTIMENT_PIPELINE_EVAL_DATA"
# Optional: where the inference service captures its answers (the sentiment_monitoring DAG needs it; training does not).
CAPTURES_KEY = "captures_uri"
CAPTURES_ENV = "SENTIMENT_CAPTURE_URI"
# Optional: the capture settings Terraform gives the bento container. A deploy copies the *running* revision, so it
# sets these on the copy (and drops the ones Terraform no longer sets): a change of capture_* reaches the service with
# the next deploy. Absent (a Variable written before it): the running revision's settings stay as they are.
CAPTURE_ENVIRONMENT_KEY = "inference_capture_environment"
CAPTURE_ENVIRONMENT_NAMES = ("AWS_REGION", "SENTIMENT_CAPTURE_RATE", "SENTIMENT_CAPTURE_TEXT", CAPTURES_ENV)
RETRAIN_ON_DRIFT_ENV = "SENTIMENT_PIPELINE_RETRAIN_ON_DRIFT"  # "1"/"true": drift alerts also trigger training
# The schedule presets Airflow accepts, as the cron expressions a CronTriggerTimetable needs.
CRON_PRESETS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@quarterly": "0 0 1 */3 *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}

log = logging.getLogger(__name__)


def pipeline_mode(environ: Mapping[str, str] = os.environ) -> str:
    """``ecs`` (default) or ``local``, from ``$SENTIMENT_PIPELINE_MODE``."""
    mode = environ.get(MODE_ENV, "ecs").strip().lower() or "ecs"
    if mode not in MODES:
        raise ConfigError(f"{MODE_ENV}={mode!r} is not one of {', '.join(MODES)}")
    return mode


def parse_config(raw: str | Mapping[str, Any] | None) -> dict[str, Any]:
    """Validate the ECS-mode configuration (the terraform outputs object); every key of the contract is required."""
    if raw is None or raw == "":
        raise ConfigError(
            f"no pipeline configuration: set the Airflow Variable {VARIABLE!r} "
            f"(or AIRFLOW_VAR_{VARIABLE.upper()}) to the terraform outputs JSON, or run with {MODE_ENV}=local"
        )
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"Variable {VARIABLE!r} is not valid JSON: {exc}") from None
    if not isinstance(raw, Mapping):
        raise ConfigError(f"Variable {VARIABLE!r} must be a JSON object, got {type(raw).__name__}")
    missing = [key for key in CONFIG_KEYS if key not in raw]
    if missing:
        raise ConfigError(f"Variable {VARIABLE!r} lacks {', '.join(missing)}")
    config = dict(raw)
    for key in _STRING_KEYS:
        if not isinstance(config[key], str) or not config[key].strip():
            raise ConfigError(f"Variable {VARIABLE!r}: {key} must be a non-empty string, got {config[key]!r}")
    for key in _LIST_KEYS:
        value = config[key]
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
            raise ConfigError(f"Variable {VARIABLE!r}: {key} must be a non-empty list of strings, got {value!r}")
    config[EVAL_DATA_KEY] = str(config.get(EVAL_DATA_KEY) or "").strip()
    config[CAPTURES_KEY] = str(config.get(CAPTURES_KEY) or "").strip()
    for key in ("store_uri", "data_uri", EVAL_DATA_KEY, CAPTURES_KEY):
        if config[key] and not config[key].startswith("s3://"):
            raise ConfigError(f"Variable {VARIABLE!r}: {key} must be an s3:// URI in ECS mode, got {config[key]!r}")
    environment = config.get(CAPTURE_ENVIRONMENT_KEY)
    if environment is not None and (
        not isinstance(environment, Mapping)
        or not set(environment) <= set(CAPTURE_ENVIRONMENT_NAMES)
        or not all(isinstance(value, str) for value in environment.values())
    ):
        raise ConfigError(
            f"Variable {VARIABLE!r}: {CAPTURE_ENVIRONMENT_KEY} must map some of "
            f"{', '.join(CAPTURE_ENVIRONMENT_NAMES)} to strings, got {environment!r}"
        )
    if not config["endpoint_url"].startswith(("http://", "https://")):
        raise ConfigError(f"Variable {VARIABLE!r}: endpoint_url must start with http:// or https://")
    if ":" in config["bento_repository_url"].rsplit("/", 1)[-1]:
        raise ConfigError(f"Variable {VARIABLE!r}: bento_repository_url must not carry a tag")
    return config


def choose(form_value: str | None, env_name: str | None, configured: str | None, what: str) -> str:
    """The form's value when filled in, else ``$env_name`` (if given), else the configured default."""
    for value in (form_value, os.environ.get(env_name) if env_name else None, configured):
        if value and str(value).strip():
            return str(value).strip()
    where = f", set {env_name}" if env_name else ""
    raise ConfigError(f"no {what}: fill it in on the form{where}, or set it in the Variable {VARIABLE!r}")


def choose_optional(form_value: str | None, env_name: str, configured: str | None) -> str:
    """Like ``choose``, for a setting that may be absent everywhere (then "")."""
    for value in (form_value, os.environ.get(env_name), configured):
        if value and str(value).strip():
            return str(value).strip()
    return ""


def training_overrides(form: Mapping[str, Any]) -> list[str]:
    """``-p key=value`` arguments for the form's training parameters plus its ``extra_params``, checked here."""
    pairs = [f"{name}={_param_text(form[name])}" for name in FORM_PARAMETERS if name in form]
    extra = form.get("extra_params") or []
    if isinstance(extra, str):
        extra = [extra]
    pairs += [str(p).strip() for p in extra if str(p).strip()]
    try:
        resolve(parse_overrides(pairs))  # unknown names, wrong types and bad ranges fail before any container starts
    except ParamError as exc:
        raise ConfigError(f"training parameters: {exc}") from None
    return [arg for pair in pairs for arg in ("-p", pair)]


def _param_text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def run_command(data_uri: str, store_uri: str, run_id: str, overrides: Sequence[str], eval_data: str = "") -> list[str]:
    """The training container's full argv (its image has no entrypoint)."""
    check_run_id(run_id)
    command = ["sentiment-pipeline", "run", "--data", data_uri, "--store", store_uri, "--run-id", run_id]
    return [*command, *(["--eval-data", eval_data] if eval_data else []), *overrides]


def gate_command(
    store_uri: str, run_id: str, deployed: str | None, threshold: float, margin: float, eval_data: str = ""
) -> list[str]:
    """``sentiment-pipeline gate``: scores the candidate and the deployed model, writes ``runs/<run>/gate.json``."""
    command = ["sentiment-pipeline", "gate", "--store", store_uri, "--run-id", check_run_id(run_id)]
    command += ["--deployed", check_run_id(deployed) if deployed else "none"]
    command += ["--min-macro-f1", repr(float(threshold)), "--margin", repr(float(margin))]
    return [*command, *(["--eval-data", eval_data] if eval_data else [])]


def sweep_rank_command(
    data_uri: str,
    store_uri: str,
    sweep_id: str,
    grid_pairs: Sequence[str],
    param_pairs: Sequence[str],
    eval_data_uri: str | None = None,
) -> list[str]:
    """``sentiment-pipeline sweep --rank-only``: rank the points the DAG's tasks ran (the same grid, checked again)."""
    command = ["sentiment-pipeline", "sweep", "--data", data_uri, "--store", store_uri, "--sweep-id", sweep_id]
    command += [arg for pair in grid_pairs for arg in ("--grid", pair)]
    command += [arg for pair in param_pairs for arg in ("-p", pair)]
    return [*command, "--rank-only", *(["--eval-data", eval_data_uri] if eval_data_uri else [])]


def monitor_command(store_uri: str, captures_uri: str, run: str, since: str, until: str, monitor_id: str) -> list[str]:
    """``sentiment-pipeline monitor`` over one window of a run's captured answers, recorded as ``monitor_id``."""
    command = ["sentiment-pipeline", "monitor", "--store", store_uri, "--captures", captures_uri]
    command += ["--run-id", run if run in ("served", "latest") else check_run_id(run)]
    return [*command, "--since", since, "--until", until, "--monitor-id", check_run_id(monitor_id)]


def monitor_window(start: Any, end: Any, now: Any, default: Any) -> tuple[Any, Any]:
    """``(since, until)`` of a monitoring run: its data interval; when the interval is empty or absent (a manual run,
    a cron trigger), the ``default`` span (a timedelta) before its end (else ``now``)."""
    until = end or now
    since = start if start is not None and start < until else until - default
    return since, until


def cron_of(schedule: str) -> str:
    """A schedule's cron expression: presets (``@weekly``) mapped, cron expressions as they are."""
    text = schedule.strip()
    if text in CRON_PRESETS:
        return CRON_PRESETS[text]
    if text.startswith("@") or len(text.split()) not in (5, 6):
        raise ConfigError(f"schedule {schedule!r} is not a cron expression or one of {', '.join(CRON_PRESETS)}")
    return text


def retrain_on_drift(environ: Mapping[str, str] = os.environ) -> bool:
    """``$SENTIMENT_PIPELINE_RETRAIN_ON_DRIFT`` is "1" or "true": training is also triggered by drift alerts."""
    return environ.get(RETRAIN_ON_DRIFT_ENV, "").strip().lower() in ("1", "true")


def package_command(store_uri: str, run_id: str) -> list[str]:
    return ["sentiment-pipeline", "package", "--store", store_uri, "--run-id", check_run_id(run_id)]


def context_uri(store_uri: str, run_id: str) -> str:
    """Where ``sentiment-pipeline package`` uploads the bento as a Kaniko build context."""
    return f"{store_uri.rstrip('/')}/{context_key(run_id)}"


def image_uri(repository_url: str, run_id: str) -> str:
    """The bento image of a run: ``<repository>:<bento version>`` (a valid tag for any run id)."""
    return f"{repository_url}:{bento_version(run_id)}"


def model_tag(run_id: str) -> str:
    return f"{MODEL_NAME}:{bento_version(run_id)}"


def bento_tag(run_id: str) -> str:
    return f"{BENTO_NAME}:{bento_version(run_id)}"


# The train task's extra links (name -> URL): resolve_config composes them, deploy/airflow_links.py shows them.
RUN_REPORTS_LINK, RUNS_INDEX_LINK = "Run reports", "Runs index"


def aws_console_domain(region: str) -> str:
    """The AWS console's domain for a region's partition (as the Amazon provider's console links choose it)."""
    if region.startswith("cn-"):
        return "amazonaws.cn"
    if region.startswith("us-gov-"):
        return "amazonaws-us-gov.com"
    return "aws.amazon.com"


def report_links(
    store_uri: str, run_id: str, region: str | None = None, served_at: str | None = None
) -> dict[str, str]:
    """Where a person reads a run's reports: ``{RUN_REPORTS_LINK: ..., RUNS_INDEX_LINK: ...}``.

    An S3 store: the S3 console's pages of ``<prefix>/runs/<run>/reports/`` and of ``<prefix>/index.html`` (the
    console signs the person in; the objects are private). A local store: its run's reports folder and ``index.html``
    at the run's row (``#run-<id>``, which the index highlights), under ``served_at`` when a web server serves the
    store there (local-mode Airflow: ``store_view.MOUNT``; the Airflow UI shows no ``file://`` link), else as
    ``file://`` URLs.
    """
    check_run_id(run_id)
    store = open_store(store_uri)
    if isinstance(store, S3Store):  # without a region (local mode on an S3 store) the console finds the bucket
        console = f"https://console.{aws_console_domain(region or '')}/s3"
        bucket, where = quote(store.bucket, safe=""), f"region={quote(region, safe='')}&" if region else ""

        def prefix(key: str) -> str:
            return quote(f"{store.prefix}/{key}" if store.prefix else key, safe="/")

        return {
            RUN_REPORTS_LINK: f"{console}/buckets/{bucket}?{where}prefix={prefix(run_key(run_id, REPORTS_DIR))}"
            "&showversions=false",
            RUNS_INDEX_LINK: f"{console}/object/{bucket}?{where}prefix={prefix(INDEX)}",
        }
    anchor = quote(f"run-{run_id}", safe=":+")
    if served_at:
        base = served_at.rstrip("/")
        return {
            RUN_REPORTS_LINK: f"{base}/{quote(run_key(run_id, REPORTS_DIR), safe='/')}",
            RUNS_INDEX_LINK: f"{base}/{INDEX}#{anchor}",
        }
    root = store.root if isinstance(store, LocalStore) else Path(store_uri)
    return {
        RUN_REPORTS_LINK: (root / run_key(run_id, REPORTS_DIR)).as_uri() + "/",
        RUNS_INDEX_LINK: f"{(root / INDEX).as_uri()}#{anchor}",
    }


def kaniko_command(context: str, destination: str) -> list[str]:
    """Arguments for the Kaniko executor (its image's entrypoint is the executor)."""
    return [f"--context={context}", f"--dockerfile={DOCKERFILE}", f"--destination={destination}"]


def container_overrides(container: str, command: Sequence[str], environment: Mapping[str, str]) -> dict[str, Any]:
    """``overrides`` for ``ecs.run_task``: one container's command and extra environment."""
    return {
        "containerOverrides": [
            {
                "name": container,
                "command": list(command),
                "environment": [{"name": k, "value": str(v)} for k, v in environment.items()],
            }
        ]
    }


def fargate_arguments(
    config: Any, prefix: str, timeout: timedelta, *, poll_seconds: int, aws_conn_id: str | None
) -> dict[str, Any]:
    """``EcsRunTaskOperator`` keywords shared by every DAG's Fargate task: the ``<prefix>_task_definition`` and
    ``<prefix>_container`` of the run's configuration (``config``: the resolving task's output, read when the task
    runs), tagged like its task definition (Airflow's role may watch and stop only those), its log stream forwarded
    into the Airflow task log, polled every ``poll_seconds`` for at most ``timeout``."""
    return {
        "aws_conn_id": aws_conn_id,  # its region must be the Variable's (the resolving tasks check)
        "cluster": config["cluster"],
        "task_definition": config[f"{prefix}_task_definition"],
        "container_name": config[f"{prefix}_container"],
        "launch_type": "FARGATE",
        "propagate_tags": "TASK_DEFINITION",
        "network_configuration": config["network_configuration"],
        "awslogs_group": config["log_group"],
        "awslogs_region": config["region"],
        "awslogs_stream_prefix": config[f"{prefix}_log_stream_prefix"],
        "awslogs_fetch_interval": timedelta(seconds=poll_seconds),
        "number_logs_exception": 20,
        "reattach": True,
        "waiter_delay": poll_seconds,
        "waiter_max_attempts": int(timeout.total_seconds() // poll_seconds) + 1,
        "execution_timeout": timeout + timedelta(minutes=5),
    }


def network_configuration(config: Mapping[str, Any]) -> dict[str, Any]:
    """awsvpc networking for Fargate tasks in the configured private subnets (egress through NAT/endpoints)."""
    return {
        "awsvpcConfiguration": {
            "subnets": list(config["subnets"]),
            "securityGroups": list(config["security_groups"]),
            "assignPublicIp": "DISABLED",
        }
    }


# What describe_task_definition returns that register_task_definition accepts back.
_REGISTERABLE = (
    "family",
    "taskRoleArn",
    "executionRoleArn",
    "networkMode",
    "containerDefinitions",
    "volumes",
    "placementConstraints",
    "requiresCompatibilities",
    "cpu",
    "memory",
    "pidMode",
    "ipcMode",
    "proxyConfiguration",
    "inferenceAccelerators",
    "ephemeralStorage",
    "runtimePlatform",
)


def task_definition_revision(
    current: Mapping[str, Any],
    container: str,
    image: str,
    environment: Mapping[str, str],
    replaced: Sequence[str] = (),
) -> dict[str, Any]:
    """Arguments for ``register_task_definition``: the current revision with ``container``'s image replaced and
    ``environment`` set on it; the variables named in ``replaced`` are dropped first unless ``environment`` sets them.
    """
    new = {key: current[key] for key in _REGISTERABLE if current.get(key) not in (None, [], {})}
    definitions = [dict(c) for c in new.get("containerDefinitions", [])]
    target = [c for c in definitions if c.get("name") == container]
    if not target:
        names = ", ".join(str(c.get("name")) for c in definitions) or "none"
        raise ConfigError(f"task definition {current.get('family')} has no container {container!r} (has {names})")
    env = {e["name"]: e["value"] for e in target[0].get("environment", []) if e["name"] not in replaced}
    env.update(environment)
    target[0]["image"] = image
    target[0]["environment"] = [{"name": k, "value": v} for k, v in sorted(env.items())]
    new["containerDefinitions"] = definitions
    return new


def form_defaults() -> dict[str, Any]:
    """The pipeline's own defaults for the form's training parameters (one source of truth: params.py)."""
    return {name: DEFAULTS[name] for name in FORM_PARAMETERS}


def run_streamed(argv: Sequence[str], *, cwd: str | Path | None = None, timeout: float = 3 * 3600) -> str:
    """Run a command, logging its output line by line; return stdout, raise CommandFailed with the last lines."""
    log.info("running: %s", " ".join(argv))
    tail: deque[str] = deque(maxlen=20)
    stdout: list[str] = []
    with subprocess.Popen(
        list(argv), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            line = line.rstrip("\n")
            log.info("%s", line)
            tail.append(line)
            stdout.append(line)
        code = process.wait(timeout=timeout)
    if code != 0:
        raise CommandFailed(f"{Path(argv[0]).name} {argv[1]} exited {code}; last lines:\n" + "\n".join(tail))
    return "\n".join(stdout)


def last_json_line(output: str) -> dict[str, Any]:
    """The JSON object a CLI command printed last (its result), among log lines."""
    for line in reversed(output.splitlines()):
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                continue
    raise CommandFailed("the command printed no JSON result")
