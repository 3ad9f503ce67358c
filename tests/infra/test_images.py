"""The container images' Dockerfiles (tests/images builds and runs the images themselves)."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
import yaml

from sentiment_pipeline.training.notebook_execution import (
    COMPARISON_NOTEBOOK,
    MONITOR_NOTEBOOK,
    PIPELINE_NOTEBOOKS,
    SWEEP_NOTEBOOK,
)
from support.project import ROOT, constraint
from support.terraform import run

CONTAINERS = ROOT / "containers"


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            pairs.append((keyword.upper(), rest.strip()))
    return pairs


def final_stage(dockerfile: Path) -> list[tuple[str, str]]:
    pairs = instructions(dockerfile)
    start = max(i for i, (k, _) in enumerate(pairs) if k == "FROM")
    return pairs[start:]


OFFICIAL_BASE = "python:3.11.14-slim-bookworm"  # GitHub/AWS builds; `make images` here passes its Debian-made base


@pytest.mark.parametrize("name", ["training", "airflow"])
def test_the_base_is_a_pinned_build_argument_and_the_user_is_not_root(name):
    dockerfile = CONTAINERS / name / "Dockerfile"
    pairs = instructions(dockerfile)
    args = [a for k, a in pairs if k == "ARG" and a.startswith("BASE_IMAGE=")]
    assert args == [f"BASE_IMAGE={OFFICIAL_BASE}"], "one BASE_IMAGE argument, defaulting to the pinned official base"
    assert pairs.index(("ARG", args[0])) < min(i for i, (k, _) in enumerate(pairs) if k == "FROM")
    stages = set()
    for keyword, rest in pairs:
        if keyword == "FROM":
            image, *alias = rest.split()
            assert image == "${BASE_IMAGE}" or image in stages, f"{name}: FROM {image} bypasses BASE_IMAGE"
            stages.update(alias[-1:])
    users = [args for keyword, args in final_stage(dockerfile) if keyword == "USER"]
    assert users, f"{name}: final stage sets no USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, f"{name}: must run as a numeric non-root uid, got {users[-1]}"


@pytest.mark.parametrize("name", ["training", "airflow"])
def test_dependencies_install_before_the_package_so_code_changes_reuse_the_layers(name):
    stage = final_stage(CONTAINERS / name / "Dockerfile")
    runs = [i for i, (k, a) in enumerate(stage) if k == "RUN" and "-c /tmp/" in a and "constraints.txt" in a]
    wheel = [i for i, (k, a) in enumerate(stage) if k == "COPY" and a.startswith("--from=wheel")]
    package_sources = [i for i, (k, a) in enumerate(stage) if k == "COPY" and "sentiment_pipeline/" in a]
    assert len(runs) == 1 and wheel, f"{name}: one pinned dependency install, then the package's wheel"
    assert runs[0] < wheel[0] and all(runs[0] < i for i in package_sources)
    copied_before = " ".join(a for k, a in stage[: runs[0]] if k == "COPY")
    assert "sentiment_pipeline" not in copied_before and "dags" not in copied_before


def test_training_image_contract():
    stage = final_stage(CONTAINERS / "training" / "Dockerfile")
    keywords = [k for k, _ in stage]
    assert "ENTRYPOINT" not in keywords, "the DAG passes the whole command: no ENTRYPOINT"
    cmd = [json.loads(a) for k, a in stage if k == "CMD"][-1]
    assert cmd == ["sentiment-pipeline", "--help"]
    text = (CONTAINERS / "training" / "Dockerfile").read_text()
    assert "p['dependencies'] + extras['serve'] + extras['teacher']" in text, "pyproject's deps, serve and teacher"
    code = " ".join(f"{k} {a}" for k, a in instructions(CONTAINERS / "training" / "Dockerfile"))
    assert "airflow" not in code.lower(), "no Airflow in the training image"
    copied = " ".join(a for k, a in stage if k == "COPY")
    for needed in ("service.py", "bentofile.yaml", "requirements/", "containers/bento/"):
        assert needed in copied, f"`sentiment-pipeline package` (bentoml build) needs {needed} in the image"
    # The notebooks come with the package's wheel, built from the top-level notebooks/ (the one copy in git).
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert setuptools["package-dir"]["sentiment_pipeline.notebooks"] == "notebooks"
    [pattern] = setuptools["package-data"]["sentiment_pipeline.notebooks"]
    shipped = {p.name for p in (ROOT / "notebooks").glob(pattern)}
    reports = (COMPARISON_NOTEBOOK, MONITOR_NOTEBOOK, SWEEP_NOTEBOOK)
    assert shipped == {f"{name}.ipynb" for name in (*PIPELINE_NOTEBOOKS, *reports)}
    assert "COPY notebooks/ notebooks/" in text, "the wheel stage builds the notebooks into the package"


def test_airflow_image_contract():
    text = (CONTAINERS / "airflow" / "Dockerfile").read_text()
    assert f'"apache-airflow=={constraint("apache-airflow")}"' in text
    assert f'"apache-airflow-providers-amazon=={constraint("apache-airflow-providers-amazon")}"' in text
    assert re.search(r"install --no-deps --no-index /tmp/wheels/", text), "package without its TensorFlow deps"
    assert "COPY --chown=root:root dags/ /opt/airflow/dags/" in text
    code = " ".join(f"{k} {a}" for k, a in instructions(CONTAINERS / "airflow" / "Dockerfile"))
    assert "tensorflow" not in code.lower()
    assert any(k == "HEALTHCHECK" for k, _ in final_stage(CONTAINERS / "airflow" / "Dockerfile"))


def test_the_bento_dockerfile_template_takes_the_base_as_a_build_argument():
    bentofile = yaml.safe_load((ROOT / "bentofile.yaml").read_text())
    assert bentofile["docker"]["base_image"] == OFFICIAL_BASE
    template = (ROOT / bentofile["docker"]["dockerfile_template"]).read_text()
    assert "ARG BASE_IMAGE={{ __options__base_image }}" in template and "FROM ${BASE_IMAGE} " in template


def load_workflow(name: str) -> dict:
    data = yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the `on:` key as True
    return data


def test_workflows_shape():
    ci = load_workflow("ci.yml")
    assert "push" in ci["on"]
    assert any(step.get("run") == "make test" for step in ci["jobs"]["test"]["steps"])

    images = load_workflow("images.yml")
    assert images["permissions"]["id-token"] == "write", "ECR push through OIDC"
    text = (ROOT / ".github" / "workflows" / "images.yml").read_text()
    assert "aws-secret-access-key" not in text and "AWS_SECRET_ACCESS_KEY" not in text, "no long-lived keys"
    assert set(images["jobs"]["build-push"]["strategy"]["matrix"]["image"]) == {"training", "airflow"}

    tf = load_workflow("terraform.yml")
    assert "pull_request" in tf["on"]
    plan_runs = " ".join(step.get("run", "") for step in tf["jobs"]["plan"]["steps"])
    for command in ("terraform fmt -check", "terraform validate", "terraform plan"):
        assert command in plan_runs
    assert tf["jobs"]["apply"]["environment"] == "production"
    assert "terraform apply" in " ".join(step.get("run", "") for step in tf["jobs"]["apply"]["steps"])


def test_infra_tools_script_is_pinned_and_idempotent():
    script = (ROOT / "scripts" / "install-infra-tools.sh").read_text()
    for package in re.findall(r'^\s+"([^"]+)"', script, flags=re.M):
        assert "==" in package, f"unpinned tool {package}"
    # Second run with everything present: a no-op that returns at once.
    run(["bash", str(ROOT / "scripts" / "install-infra-tools.sh")], cwd=ROOT, timeout=60)
