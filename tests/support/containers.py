"""Helpers for the tests that build and run the product's images with the container engine (podman here).

What Fargate would run is read from the Terraform task definition (terraform/training.tf) so the tests run the
container with the same user, read-only root file system, scratch mount and environment; only the values that
come from other resources (bucket URIs, region) are the test's own.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import pytest

from support.project import ROOT
from support.shared import run_lock, worker_id

TRAINING_TF = ROOT / "terraform" / "training.tf"
# Every container a test starts carries it, so teardown can remove strays: this worker's own, never those of another
# xdist worker or of another test run on the machine, which may still be running.
LABEL = f"sentiment-pipeline-test={os.environ.get('PYTEST_XDIST_TESTRUNUID', 'run')}-{worker_id()}-{os.getpid()}"


def _load_images_script():
    spec = importlib.util.spec_from_file_location("project_images", ROOT / "scripts" / "images.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("project_images", module)
    spec.loader.exec_module(module)
    return module


images = _load_images_script()  # scripts/images.py: engine, base image, builds (one implementation)


def engine() -> str:
    """The engine `make images` uses; fails (never skips) naming the install step."""
    try:
        return images.engine()
    except images.ImageError as exc:
        pytest.fail(f"{exc} (make test runs scripts/install-system-deps.sh)")


def engine_env() -> dict[str, str]:
    return images.engine_env(engine())


def engine_cli(*args: str, timeout: float = 600, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [engine(), *args], env=engine_env(), capture_output=True, text=True, timeout=timeout, **kwargs
    )
    if check and result.returncode != 0:
        raise AssertionError(f"{engine()} {' '.join(args[:3])} exited {result.returncode}:\n{result.stderr[-4000:]}")
    return result


def build_project_images(*names: str) -> None:
    """(Re)build the named images the way `make images` does; cached layers make this seconds when unchanged."""
    try:
        with run_lock("image-builds"):  # one build of a tag at a time, as the workers of this run ask for them
            images.build_images(list(names), store="")
    except images.ImageError as exc:
        pytest.fail(str(exc))


def build_bento_image(context_tarball: Path, tag: str) -> str:
    """Build the bento image from a Kaniko build context tarball, as the Kaniko task does, tagged ``tag``."""
    command = engine()
    with tempfile.TemporaryDirectory(prefix="bento-context-") as tmp:
        with tarfile.open(context_tarball, "r:gz") as tar:
            tar.extractall(tmp, filter="data")
        try:
            with run_lock("image-builds"):
                base = images.base_image(command)
            images.build(command, Path(tmp) / images.BENTO_DOCKERFILE, Path(tmp), [tag], base)
        except images.ImageError as exc:
            raise AssertionError(str(exc)) from None
    return tag


def image_config(ref: str) -> dict:
    """The image's config (user, command, env, labels, health check: podman lists the last beside it, docker in it)."""
    inspected = json.loads(engine_cli("image", "inspect", ref).stdout)[0]
    return {"Healthcheck": inspected.get("Healthcheck"), **inspected["Config"]}


def remove_test_containers() -> None:
    ids = engine_cli("ps", "-aq", "--filter", f"label={LABEL}", check=False).stdout.split()
    if ids:
        engine_cli("rm", "-f", *ids, check=False)


# ---- ECS task definitions as containers ---------------------------------------------------------------------------
def run_options(definition: dict, container_def: dict, name: str, environment: dict[str, str]) -> list[str]:
    """``podman run`` options for an ECS task definition's container, as Fargate applies them.

    The host's network stands in for the task's VPC, so the S3 API on loopback (moto) is reachable.
    """
    args = ["run", "--rm", "--name", name, "--label", LABEL, "--network", "host", "--no-healthcheck"]
    if container_def.get("user"):
        args += ["--user", container_def["user"]]
    if container_def.get("readonlyRootFilesystem"):
        args += ["--read-only"]  # nothing writable but the task's volumes (podman would add tmpfs mounts of its own)
        args += ["--read-only-tmpfs=false"] if images.is_podman(engine()) else []
    volumes = {v["name"] for v in definition.get("volumes", [])}
    for mount in container_def.get("mountPoints", []):
        assert mount["sourceVolume"] in volumes, f"mount of an undeclared volume {mount}"
        args += ["--tmpfs", f"{mount['containerPath']}:rw,size=4g,mode=1777"]  # Fargate's ephemeral storage
    for key, value in environment.items():
        args += ["--env", f"{key}={value}"]
    return args


def training_task_definition(image: str, substitutions: dict[str, str]) -> dict:
    """terraform/training.tf's training task definition in ECS's API shape (``volumes``, ``containerDefinitions``):
    the user, read-only root, scratch volume and environment it gives the container.

    ``substitutions`` gives the values of the Terraform expressions (``local.data_uri`` ...) for this test.
    """
    text = TRAINING_TF.read_text()
    block = text.split('resource "aws_ecs_task_definition" "training"', 1)[1].split("\nresource ", 1)[0]
    user = re.search(r'\buser\s*=\s*"([^"]+)"', block)
    read_only = re.search(r"readonlyRootFilesystem\s*=\s*(true|false)", block)
    volumes = re.findall(r'volume\s*\{\s*name\s*=\s*"([^"]+)"', block)
    mounts = re.findall(r'sourceVolume\s*=\s*"([^"]+)",\s*containerPath\s*=\s*"([^"]+)"', block)
    environment = []
    for name, value in re.findall(r'\{\s*name\s*=\s*"([^"]+)",\s*value\s*=\s*([^}]+?)\s*\}', block):
        value = value.strip()
        if value.startswith('"'):
            environment.append({"name": name, "value": value.strip('"')})
        elif value in substitutions:
            environment.append({"name": name, "value": substitutions[value]})
        else:
            raise AssertionError(f"training.tf sets {name} from {value}: the test needs a value for it")
    assert user and read_only and volumes and mounts and environment, "training.tf's task definition changed shape"
    container = {
        "name": "training",
        "image": image,
        "user": user.group(1),
        "readonlyRootFilesystem": read_only.group(1) == "true",
        "mountPoints": [{"sourceVolume": v, "containerPath": p, "readOnly": False} for v, p in mounts],
        "environment": environment,
    }
    return {"volumes": [{"name": v} for v in volumes], "containerDefinitions": [container]}


def wait_http(url: str, container: str, timeout: float = 180) -> float:
    """Seconds until ``url`` answers 200; fails with the container's log if it never does or the container exits."""
    import httpx

    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        state = engine_cli("inspect", "--format", "{{.State.Running}}", container, check=False).stdout.strip()
        if state != "true":
            break
        time.sleep(0.2)
    logs = engine_cli("logs", container, check=False)
    raise AssertionError(f"{url} did not answer 200 within {timeout:.0f} s:\n{(logs.stdout + logs.stderr)[-4000:]}")


def clean_env() -> dict[str, str]:
    """This process's environment without what an engineer's shell may carry into a container."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SENTIMENT_PIPELINE_", "BENTOML_"))}
