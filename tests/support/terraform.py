"""Terraform and infra-tool helpers: the pinned tool locations and a Terraform working copy outside terraform/."""

from __future__ import annotations

import concurrent.futures
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from support.project import BIN, ROOT, free_port, wait_for_port

TERRAFORM_DIR = ROOT / "terraform"
TOOLS_BIN = ROOT / ".tools" / "bin"
# Where a local filesystem mirror of registry.terraform.io/hashicorp/aws may live (this workplace: /opt/tf-plugins).
MIRROR_CANDIDATES = [os.environ.get("TF_PROVIDER_MIRROR", ""), "/opt/tf-plugins", "/usr/share/terraform/plugins"]
INSTALL_HINT = "run `bash scripts/install-infra-tools.sh` (make test does) to install it into .tools/"


def tool(name: str) -> str:
    """Path of an infra tool from .tools/bin; fails (never skips) naming the install script."""
    path = TOOLS_BIN / name
    if not path.exists():
        pytest.fail(f"{name} not found in {TOOLS_BIN}: {INSTALL_HINT}")
    return str(path)


def terraform_bin() -> str:
    path = shutil.which("terraform")
    if not path:
        pytest.fail("terraform is not on PATH: install Terraform >= 1.11 (CI: hashicorp/setup-terraform)")
    return path


def provider_mirror() -> Path | None:
    for candidate in MIRROR_CANDIDATES:
        if candidate and (Path(candidate) / "registry.terraform.io" / "hashicorp" / "aws").is_dir():
            return Path(candidate)
    return None


def run(cmd: list[str], *, cwd: Path | None = None, env: dict | None = None, timeout: int = 300, check: bool = True):
    result = subprocess.run(
        cmd, cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=timeout
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} exited {result.returncode}\n"
            f"stdout:\n{result.stdout[-6000:]}\nstderr:\n{result.stderr[-6000:]}"
        )
    return result


def terraform_workdir(dest: Path) -> tuple[Path, dict]:
    """A copy of terraform/ (without local state) and the env that points Terraform at a test-only CLI config."""
    work = dest / "terraform"
    shutil.copytree(
        TERRAFORM_DIR,
        work,
        ignore=shutil.ignore_patterns(".terraform", "*.tfstate*", "backend.hcl", "*.tfplan", "tfplan"),
    )
    mirror = provider_mirror()
    cli_config = dest / "terraform-test.tfrc"
    if mirror:
        cli_config.write_text(
            "provider_installation {\n"
            f'  filesystem_mirror {{\n    path    = "{mirror}"\n'
            '    include = ["registry.terraform.io/hashicorp/*"]\n  }\n'
            '  direct {\n    exclude = ["registry.terraform.io/hashicorp/*"]\n  }\n'
            "}\n"
        )
    else:  # e.g. GitHub-hosted CI: the public registry is reachable
        cli_config.write_text("# test-only CLI config: default provider installation\n")
    env = {
        "TF_CLI_CONFIG_FILE": str(cli_config),
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
        "CHECKPOINT_DISABLE": "1",
        "TF_DATA_DIR": str(work / ".terraform"),
    }
    return work, env


# ---- the whole stack applied against a moto server (tests/infra/test_terraform_moto.py) --------------------------
REGION = "us-east-1"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION}
ENDPOINTS = [
    "applicationautoscaling", "ec2", "ecr", "ecs", "elbv2", "iam", "kms", "logs", "rds", "s3", "secretsmanager", "sts",
]  # fmt: skip
MOTO_VARS = {
    "region": REGION,
    "image_tag": "test",
    "eval_data_key": "tweets/eval.csv",
    "autoscaling_enabled": False,  # moto lacks Application Auto Scaling's tag API
    "db_performance_insights": False,  # moto does not keep the setting (endless diff)
    "deletion_protection": False,  # so destroy can run
    "force_destroy": True,
}


def write_moto_override(work: Path, endpoint: str) -> None:
    endpoints = "\n".join(f'    {name} = "{endpoint}"' for name in ENDPOINTS)
    (work / "zz_moto_test_override.tf").write_text(
        f"""# test-only: local state, every endpoint on the moto server
terraform {{
  backend "local" {{}}
}}

provider "aws" {{
  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = false
  s3_use_path_style           = true
  max_retries                 = 2
  endpoints {{
{endpoints}
  }}
}}
"""
    )
    (work / "moto.auto.tfvars.json").write_text(json.dumps(MOTO_VARS))


class MotoStack:
    """terraform/ copied to a temporary folder and pointed at a moto server of its own, with ``scenario`` (init,
    apply, checks, destroy) running on it in a background thread.

    Applying and destroying the stack is mostly waiting (the provider's waiters poll; the whole scenario measured
    87 s of CPU in 227 s), so tests/infra/conftest.py starts it when the session begins and the rest of the suite
    runs meanwhile; ``result()`` waits for it and re-raises whatever failed.
    """

    def __init__(self, scenario: Callable[[MotoStack, Path], None]) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="terraform-moto-"))
        self.timings: list[tuple[str, float]] = []
        self.work, env = terraform_workdir(self.root)
        self.env = {**env, **CREDENTIALS}
        self._moto_log = open(self.root / "moto.log", "w")  # noqa: SIM115 (closed in close())
        self._port = free_port()
        self._moto = subprocess.Popen(
            [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(self._port)],
            stdout=self._moto_log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **CREDENTIALS, "MOTO_IAM_LOAD_MANAGED_POLICIES": "true"},
        )
        self.endpoint = f"http://127.0.0.1:{self._port}"
        write_moto_override(self.work, self.endpoint)
        self._done: concurrent.futures.Future = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._run, args=(scenario,), name="terraform-moto", daemon=True)
        self._thread.start()

    def tf(self, *args: str, timeout: int = 400, check: bool = True) -> subprocess.CompletedProcess:
        started = time.monotonic()
        result = run([terraform_bin(), *args, "-no-color"], cwd=self.work, env=self.env, timeout=timeout, check=check)
        self.timings.append((" ".join(args[:2]), round(time.monotonic() - started, 1)))
        return result

    def _run(self, scenario: Callable[[MotoStack, Path], None]) -> None:
        try:
            wait_for_port(self._port, f"moto server (log: {self.root / 'moto.log'})")
            scratch = self.root / "scratch"
            scratch.mkdir()
            scenario(self, scratch)
            self._done.set_result(None)
        except BaseException as exc:  # pytest.fail() raises a BaseException too; handed to result()
            self._done.set_exception(exc)

    def result(self, timeout: float = 1200) -> None:
        self._done.result(timeout=timeout)

    def close(self) -> None:
        """Stop moto (a scenario still running then fails fast) and remove the working copy."""
        self._moto.terminate()
        self._moto.wait(timeout=10)
        self._thread.join(timeout=120)
        self._moto_log.close()
        shutil.rmtree(self.root, ignore_errors=True)
