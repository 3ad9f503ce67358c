"""A stand-in for Fargate behind moto: runs each new ECS task's (overridden) command on this machine.

moto accepts ``run_task`` but runs nothing, and its containers stay PENDING. With ``ecs::task`` pinned to
RUNNING (moto's state manager), this agent, for every new task: merges the task definition's environment
with the overrides, runs the exact overridden command (AWS_ENDPOINT_URL pointing at moto, so S3 is moto's),
writes the output to moto CloudWatch Logs under ``<awslogs-stream-prefix>/<container>/<task id>`` as the
awslogs driver does, sets the container STOPPED with the real exit code in moto's backend, and calls
``stop_task``. The unmodified ``EcsRunTaskOperator`` then sees what it would see on AWS.

Kaniko cannot run here: for the image-builder container the agent checks that the ``--context`` tarball
exists in (moto) S3 and holds ``env/docker/Dockerfile`` and the model, then pushes nothing and exits 0.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import boto3

ACCOUNT = "123456789012"  # moto's default account


@dataclass
class Launch:
    task_id: str
    container: str
    command: list[str]
    environment: dict[str, str]
    exit_code: int | None = None
    output: list[str] = field(default_factory=list)
    sent: int = 0  # lines already written to CloudWatch


class EcsAgent:
    def __init__(self, region: str, aws_env: dict[str, str], workdir: Path, extra_env: dict[str, str]) -> None:
        self.region = region
        self.aws_env = aws_env
        self.workdir = workdir
        self.extra_env = extra_env
        self.launches: list[Launch] = []
        self._seen: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="ecs-agent", daemon=True)
        kwargs = {"region_name": region, "endpoint_url": aws_env["AWS_ENDPOINT_URL"]}
        self.ecs = boto3.client("ecs", **kwargs)
        self.logs = boto3.client("logs", **kwargs)
        self.s3 = boto3.client("s3", **kwargs)

    def __enter__(self) -> EcsAgent:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _backend(self):
        from moto.ecs.models import ecs_backends

        return ecs_backends[ACCOUNT][self.region]

    def _loop(self) -> None:
        while not self._stop.wait(0.3):
            for cluster_tasks in list(self._backend().tasks.values()):
                for arn, task in list(cluster_tasks.items()):
                    if arn in self._seen or task.desired_status != "RUNNING":
                        continue
                    self._seen.add(arn)
                    threading.Thread(target=self._run, args=(task,), daemon=True).start()

    def _run(self, task) -> None:
        backend = self._backend()
        definition = backend.describe_task_definition(task.task_definition_arn)
        container_def = definition.container_definitions[0]
        name = container_def["name"]
        override = next(
            (o for o in task.overrides.get("containerOverrides", []) if o.get("name") == name),
            {},
        )
        environment = {e["name"]: e["value"] for e in container_def.get("environment", [])}
        environment.update({e["name"]: e["value"] for e in override.get("environment", [])})
        command = list(override.get("command") or container_def.get("command") or [])
        launch = Launch(task.id, name, command, environment)
        self.launches.append(launch)
        options = container_def["logConfiguration"]["options"]
        group, stream = options["awslogs-group"], f"{options['awslogs-stream-prefix']}/{name}/{task.id}"
        self.logs.create_log_stream(logGroupName=group, logStreamName=stream)
        try:
            if name == "kaniko":
                code = self._kaniko(launch)
            else:
                code = self._execute(launch, group, stream)
        except Exception as exc:  # the agent must always stop the task, or the operator waits forever
            launch.output.append(f"agent error: {exc!r}")
            code = 125
        self._put(group, stream, launch.output[-50:] if name == "kaniko" else self._unsent(launch))
        launch.exit_code = code
        task.containers[0].last_status = "STOPPED"
        task.containers[0].exitCode = code
        self.ecs.stop_task(cluster=task.cluster_arn, task=task.task_arn, reason="Essential container in task exited")

    def _execute(self, launch: Launch, group: str, stream: str) -> int:
        env = {
            "PATH": os.environ["PATH"],
            "HOME": os.environ.get("HOME", "/tmp"),
            **self.extra_env,
            **launch.environment,
            **self.aws_env,
        }
        executable = shutil.which(launch.command[0], path=env["PATH"]) or launch.command[0]
        process = subprocess.Popen(
            [executable, *launch.command[1:]],
            cwd=self.workdir,  # the image's WORKDIR (service.py, bentofile.yaml)
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        last_flush = time.monotonic()
        for line in process.stdout:
            launch.output.append(line.rstrip("\n"))
            if time.monotonic() - last_flush > 1:
                self._put(group, stream, self._unsent(launch))
                last_flush = time.monotonic()
        return process.wait(timeout=900)

    def _unsent(self, launch: Launch) -> list[str]:
        lines = launch.output[launch.sent :]
        launch.sent += len(lines)
        return lines

    def _put(self, group: str, stream: str, lines: list[str]) -> None:
        now = int(time.time() * 1000)
        events = [{"timestamp": now + i, "message": line or " "} for i, line in enumerate(lines)]
        for start in range(0, len(events), 500):
            self.logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events[start : start + 500])

    def _kaniko(self, launch: Launch) -> int:
        args = dict(arg.removeprefix("--").split("=", 1) for arg in launch.command)
        context = urlparse(args["context"])
        body = self.s3.get_object(Bucket=context.netloc, Key=context.path.lstrip("/"))["Body"].read()
        with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
            names = {n.removeprefix("./") for n in tar.getnames()}
        if args["dockerfile"] not in names or not any(n.startswith("models/tweet_sentiment/") for n in names):
            launch.output.append(f"error: {args['context']} lacks {args['dockerfile']} or models/")
            return 1
        launch.output.append(
            f"test agent (no kaniko here): context has {len(names)} entries incl. {args['dockerfile']}"
        )
        launch.output.append(f"would push {args['destination']}; pushed nothing")
        return 0
