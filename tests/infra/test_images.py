"""The container images: Dockerfile properties, and the commands the images run, run as commands."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import yaml

from .conftest import ROOT, VENV_BIN, run

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


def constraint(name: str) -> str:
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.lower().startswith(f"{name.lower()}=="):
            return line.split("==", 1)[1].strip()
    raise AssertionError(f"{name} not pinned in constraints.txt")


@pytest.mark.parametrize("name", ["training", "airflow"])
def test_base_images_are_pinned_and_user_is_not_root(name):
    dockerfile = CONTAINERS / name / "Dockerfile"
    for keyword, args in instructions(dockerfile):
        if keyword == "FROM":
            image = args.split()[0]
            assert "$" not in image, "base image must be literal so scanners and pinning tools see it"
            tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""
            assert tag and tag != "latest" and re.search(r"\d+\.\d+", tag), f"unpinned base image {image}"
    users = [args for keyword, args in final_stage(dockerfile) if keyword == "USER"]
    assert users, f"{name}: final stage sets no USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, f"{name}: must run as a numeric non-root uid, got {users[-1]}"


def test_training_image_contract():
    stage = final_stage(CONTAINERS / "training" / "Dockerfile")
    keywords = [k for k, _ in stage]
    assert "ENTRYPOINT" not in keywords, "the DAG passes the whole command: no ENTRYPOINT"
    cmd = [json.loads(a) for k, a in stage if k == "CMD"][-1]
    assert cmd == ["sentiment-pipeline", "--help"]
    text = (CONTAINERS / "training" / "Dockerfile").read_text()
    assert '-c constraints.txt ".[serve]"' in text, "installs the [serve] extra pinned by constraints.txt"
    code = " ".join(f"{k} {a}" for k, a in instructions(CONTAINERS / "training" / "Dockerfile"))
    assert "airflow" not in code.lower(), "no Airflow in the training image"
    copied = " ".join(a for k, a in stage if k == "COPY")
    for needed in ("notebooks/", "service.py", "bentofile.yaml", "requirements/"):
        assert needed in copied, f"`sentiment-pipeline package` (bentoml build) needs {needed} in the image"


def test_airflow_image_contract():
    text = (CONTAINERS / "airflow" / "Dockerfile").read_text()
    assert f"apache/airflow:slim-{constraint('apache-airflow')}-python3.11" in text
    assert f'"apache-airflow=={constraint("apache-airflow")}"' in text
    assert f'"apache-airflow-providers-amazon=={constraint("apache-airflow-providers-amazon")}"' in text
    assert re.search(r"pip install .*--no-deps /tmp/sentiment-pipeline", text), "package without its TensorFlow deps"
    assert "COPY --chown=airflow:root dags/ /opt/airflow/dags/" in text
    code = " ".join(f"{k} {a}" for k, a in instructions(CONTAINERS / "airflow" / "Dockerfile"))
    assert "tensorflow" not in code.lower()
    assert any(k == "HEALTHCHECK" for k, _ in final_stage(CONTAINERS / "airflow" / "Dockerfile"))


def test_training_image_default_command_runs():
    """The image's CMD, `sentiment-pipeline --help`, from the project environment."""
    result = run([str(VENV_BIN / "sentiment-pipeline"), "--help"])
    assert "run" in result.stdout and "sample" in result.stdout


@pytest.mark.slow
def test_training_task_command_runs_like_the_fargate_task(tmp_path):
    """What the DAG runs in the training task: data and store from the task's environment, HOME and the
    tool caches on the scratch volume (the root filesystem is read-only there), tiny model params."""
    data = tmp_path / "sample.csv"
    run([str(VENV_BIN / "sentiment-pipeline"), "sample", "--out", str(data)])
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    env = {
        "SENTIMENT_PIPELINE_DATA": str(data),
        "SENTIMENT_PIPELINE_STORE": str(tmp_path / "store"),
        "HOME": str(scratch),
        "BENTOML_HOME": str(scratch / "bentoml"),
        "MPLCONFIGDIR": str(scratch / "matplotlib"),
        "JUPYTER_RUNTIME_DIR": str(scratch / "jupyter-runtime"),
        "IPYTHONDIR": str(scratch / "ipython"),
        "TMPDIR": str(scratch),
    }
    params = ["epochs=1", "ensemble_size=1", "embedding_dim=16", "lstm_units=8", "ngram_dim=8"]
    cmd = [str(VENV_BIN / "sentiment-pipeline"), "run", "--run-id", "task-run"]
    for p in params:
        cmd += ["-p", p]
    result = run(cmd, env=env, timeout=600)
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["run_id"] == "task-run"
    store = tmp_path / "store"
    assert json.loads((store / "runs" / "task-run" / "manifest.json").read_text())["status"] == "succeeded"
    assert json.loads((store / "latest.json").read_text())["run_id"] == "task-run"


@pytest.mark.slow
def test_airflow_image_commands_run(tmp_path):
    """`airflow version` (the image's CMD) with the Amazon provider the image pins importable."""
    airflow = VENV_BIN / "airflow"
    env = {"AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    result = run([str(airflow), "version"], env=env, timeout=180)
    assert result.stdout.strip().splitlines()[-1] == constraint("apache-airflow")
    probe = "import airflow.providers.amazon as a; print(a.__version__)"
    out = run([str(VENV_BIN / "python"), "-c", probe], env=env, timeout=180).stdout.strip().splitlines()[-1]
    assert out == constraint("apache-airflow-providers-amazon")


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
    assert os.access(ROOT / "scripts" / "install-infra-tools.sh", os.R_OK)
    # Second run with everything present: a no-op that returns at once.
    run(["bash", str(ROOT / "scripts" / "install-infra-tools.sh")], cwd=ROOT, timeout=60)
