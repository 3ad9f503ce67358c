"""A stand-in for Fargate behind moto: runs each new ECS task as a container of its task definition's image.

moto accepts ``run_task`` but runs nothing, and its containers stay PENDING. With ``ecs::task`` pinned to
RUNNING (moto's state manager), this agent, for every new task, does what the Fargate agent does:

- ``podman run`` of the task definition's image with its user, read-only root file system, its volumes as
  scratch (tmpfs) mounts, the definition's environment merged with the overrides, and the overridden command;
  the host's network stands in for the task's VPC so the S3 API on loopback (moto) is reachable, and the task
  role's credentials are the test's moto credentials;
- streams the container's output into moto CloudWatch Logs under ``<awslogs-stream-prefix>/<container>/<task id>``
  as the awslogs driver does, sets the container STOPPED with the container's real exit code in moto's backend,
  and calls ``stop_task``. The unmodified ``EcsRunTaskOperator`` then sees what it would see on AWS.

The image-builder (Kaniko) task is built with podman instead: the ``--context`` tarball is read from (moto) S3 and
built with its ``--dockerfile``, tagged as ``--destination`` in the local image store (no registry to push to).

``ServiceAgent`` plays the ECS service: whenever the service's task definition changes, it starts that revision's
image with its environment, port 3000 published on a fixed loopback port (the "load balancer"), and stops the old one.
"""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import boto3

from support.containers import LABEL, build_bento_image, engine, engine_cli, engine_env, run_options
from support.project import ONE_THREAD

ACCOUNT = "123456789012"  # moto's default account


@dataclass
class Launch:
    task_id: str
    container: str
    command: list[str]
    environment: dict[str, str]
    image: str = ""
    run_args: list[str] = field(default_factory=list)  # the `podman run` options the definition turned into
    exit_code: int | None = None
    output: list[str] = field(default_factory=list)
    sent: int = 0  # lines already written to CloudWatch


class EcsAgent:
    def __init__(self, region: str, aws_env: dict[str, str]) -> None:
        self.region = region
        self.aws_env = aws_env  # what the task role and the VPC endpoints give a task: credentials, the S3 API
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
        definition = self.ecs.describe_task_definition(taskDefinition=task.task_definition_arn)["taskDefinition"]
        container_def = definition["containerDefinitions"][0]
        name = container_def["name"]
        override = next(
            (o for o in task.overrides.get("containerOverrides", []) if o.get("name") == name),
            {},
        )
        environment = {e["name"]: e["value"] for e in container_def.get("environment", [])}
        environment.update({e["name"]: e["value"] for e in override.get("environment", [])})
        command = list(override.get("command") or container_def.get("command") or [])
        launch = Launch(task.id, name, command, environment, image=container_def["image"])
        self.launches.append(launch)
        options = container_def["logConfiguration"]["options"]
        group, stream = options["awslogs-group"], f"{options['awslogs-stream-prefix']}/{name}/{task.id}"
        self.logs.create_log_stream(logGroupName=group, logStreamName=stream)
        try:
            if name == "kaniko":
                code = self._kaniko(launch)
            else:
                # the tasks share the tests' two cores: they compute with one thread, as the tests' processes do
                threads = {name: os.environ[name] for name in ONE_THREAD if name in os.environ}
                launch.run_args = run_options(
                    definition, container_def, f"ecs-{task.id[:12]}", {**environment, **self.aws_env, **threads}
                )
                code = self._execute(launch, group, stream)
        except Exception as exc:  # the agent must always stop the task, or the operator waits forever
            launch.output.append(f"agent error: {exc!r}")
            code = 125
        self._put(group, stream, self._unsent(launch))
        launch.exit_code = code
        task.containers[0].last_status = "STOPPED"
        task.containers[0].exitCode = code
        self.ecs.stop_task(cluster=task.cluster_arn, task=task.task_arn, reason="Essential container in task exited")

    def _execute(self, launch: Launch, group: str, stream: str) -> int:
        process = subprocess.Popen(
            [engine(), *launch.run_args, launch.image, *launch.command],
            env=engine_env(),
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
        return process.wait(timeout=900)  # `podman run` exits with the container's exit code

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
        """Kaniko's arguments, carried out with podman: the context from S3, its Dockerfile, the destination tag."""
        args = dict(arg.removeprefix("--").split("=", 1) for arg in launch.command)
        context = urlparse(args["context"])
        body = self.s3.get_object(Bucket=context.netloc, Key=context.path.lstrip("/"))["Body"].read()
        with tempfile.TemporaryDirectory(prefix="kaniko-") as tmp:
            tarball = Path(tmp) / "context.tar.gz"
            tarball.write_bytes(body)
            with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
                names = {n.removeprefix("./") for n in tar.getnames()}
            if args["dockerfile"] not in names:
                launch.output.append(f"error: {args['context']} has no {args['dockerfile']}")
                return 1
            launch.output.append(f"building {args['destination']} from {args['context']} ({len(names)} entries)")
            try:
                build_bento_image(tarball, args["destination"])
            except AssertionError as exc:
                launch.output.extend(str(exc).splitlines()[-40:])
                return 1
        launch.output.append(f"built {args['destination']} (podman; no registry here, so nothing pushed)")
        return 0


class ServiceAgent:
    """The ECS service's running task: the image of its current task definition, on ``127.0.0.1:port``."""

    def __init__(self, ecs, cluster: str, service: str, port: int) -> None:
        self.ecs, self.cluster, self.service, self.port = ecs, cluster, service, port
        self.current: str | None = None
        self.container: str | None = None
        self.started: list[dict] = []  # revision, image, environment of every container started
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="ecs-service-agent", daemon=True)

    def __enter__(self) -> ServiceAgent:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self._remove()

    def logs(self) -> str:
        """The current service container's output (for a failing smoke test's message)."""
        if not self.container:
            return "(no service container started)"
        result = engine_cli("logs", self.container, check=False)
        return f"\n--- {self.container} log ---\n{(result.stdout + result.stderr)[-4000:]}"

    def _remove(self) -> None:
        if self.container:
            engine_cli("rm", "--force", self.container, check=False)
            self.container = None

    def _loop(self) -> None:
        while not self._stop.wait(0.5):
            services = self.ecs.describe_services(cluster=self.cluster, services=[self.service])["services"]
            revision = services[0]["taskDefinition"] if services else None
            if revision and revision != self.current:
                self.current = revision
                self._roll(revision)

    def _roll(self, revision: str) -> None:
        definition = self.ecs.describe_task_definition(taskDefinition=revision)["taskDefinition"]
        container_def = definition["containerDefinitions"][0]
        image = container_def["image"]
        self._remove()
        if engine_cli("image", "inspect", image, check=False).returncode != 0:
            return  # e.g. the bootstrap image Terraform deploys first: nothing answers, as on AWS before a deploy
        environment = {e["name"]: e["value"] for e in container_def.get("environment", [])}
        name = f"ecs-service-{os.getpid()}-{revision.rsplit(':', 1)[-1]}"  # another test run may roll its own
        args = ["run", "--detach", "--name", name, "--label", LABEL, "--no-healthcheck"]  # kept after exit: logs
        for mapping in container_def.get("portMappings", []):
            args += ["--publish", f"127.0.0.1:{self.port}:{mapping['containerPort']}"]
        for key, value in environment.items():
            args += ["--env", f"{key}={value}"]
        engine_cli(*args, image)
        self.container = name
        self.started.append({"revision": revision, "image": image, "environment": environment})
