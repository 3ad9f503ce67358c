"""Terraform and infra-tool helpers: the pinned tool locations and a Terraform working copy outside terraform/."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM_DIR = ROOT / "terraform"
TOOLS_BIN = ROOT / ".tools" / "bin"
VENV_BIN = Path(sys.executable).parent
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
