"""Static checks of the infrastructure code: terraform fmt/validate, checkov, hadolint, actionlint."""

from __future__ import annotations

import json
import re

import pytest

from support.project import BIN, ROOT
from support.terraform import TERRAFORM_DIR, run, terraform_bin, terraform_workdir, tool

DOCKERFILES = sorted((ROOT / "containers").glob("*/Dockerfile"))
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


@pytest.mark.slow
def test_terraform_fmt():
    result = run([terraform_bin(), "fmt", "-check", "-recursive", "-diff", str(TERRAFORM_DIR)], check=False)
    assert result.returncode == 0, f"terraform fmt would change:\n{result.stdout}{result.stderr}"


def test_terraform_readme_lists_every_input_and_output_as_the_code_has_them():
    result = run([str(BIN / "python"), str(ROOT / "scripts" / "terraform_readme_tables.py"), "--check"], check=False)
    assert result.returncode == 0, f"terraform/README.md is stale:\n{result.stdout}{result.stderr}"


@pytest.mark.slow
def test_terraform_validate(tmp_path):
    work, env = terraform_workdir(tmp_path)
    run([terraform_bin(), "init", "-backend=false", "-no-color"], cwd=work, env=env)
    result = run([terraform_bin(), "validate", "-json", "-no-color"], cwd=work, env=env, check=False)
    report = json.loads(result.stdout)
    assert report["valid"] and result.returncode == 0, json.dumps(report["diagnostics"], indent=2)
    assert report["warning_count"] == 0, json.dumps(report["diagnostics"], indent=2)


@pytest.mark.slow
def test_checkov_has_no_failed_checks():
    checkov = tool("checkov")
    targets = [
        ("terraform", TERRAFORM_DIR),
        ("dockerfile", ROOT / "containers"),
        ("github_actions", ROOT / ".github"),
    ]
    # One call per directory keeps each framework to its own files.
    for framework, path in targets:
        result = run(
            [checkov, "--skip-download", "--compact", "-o", "json", "--framework", framework, "-d", str(path)],
            check=False,
            timeout=600,
        )
        reports = json.loads(result.stdout)
        reports = reports if isinstance(reports, list) else [reports]
        failed = [
            f"{c['check_id']} {c['resource']} ({c['file_path']}:{c['file_line_range']})"
            for report in reports
            for c in report.get("results", {}).get("failed_checks", [])
        ]
        passed = sum(report.get("summary", {}).get("passed", 0) for report in reports)
        assert not failed, f"checkov {framework}: failed checks:\n" + "\n".join(failed)
        assert passed > 0, f"checkov {framework} checked nothing in {path}: {result.stdout[:500]}"
        assert result.returncode == 0, result.stderr[-3000:]


def test_every_checkov_skip_has_a_reason():
    pattern = re.compile(r"checkov:skip=([A-Z0-9_]+)(?::(.*))?")
    skips = []
    terraform = [p for p in TERRAFORM_DIR.rglob("*.tf") if ".terraform" not in p.parts]  # the modules' too
    assert any(p.parent != TERRAFORM_DIR for p in terraform), "expected the modules under terraform/modules/"
    for path in [*terraform, *DOCKERFILES, *WORKFLOWS]:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for check_id, reason in pattern.findall(line):
                skips.append(check_id)
                where = f"{path.relative_to(ROOT)}:{number}"
                assert len((reason or "").strip()) >= 20, f"{where}: skip of {check_id} needs a real reason"
    assert skips, "expected the documented checkov skips"
    documented = (ROOT / "docs" / "infrastructure.md").read_text()
    missing = sorted({s for s in skips if s not in documented})
    assert not missing, f"checkov skips not listed in docs/infrastructure.md: {missing}"


def test_the_dockerfiles_are_found():
    assert {p.parent.name for p in DOCKERFILES} == {"training", "airflow"}, DOCKERFILES


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_hadolint(dockerfile):
    result = run([str(BIN / "hadolint"), "--failure-threshold", "info", str(dockerfile)], check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint():
    assert {p.name for p in WORKFLOWS} >= {"ci.yml", "images.yml", "terraform.yml"}
    result = run([tool("actionlint"), "-no-color", "-oneline", *map(str, WORKFLOWS)], cwd=ROOT, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_trivy_config_finds_no_misconfiguration_in_the_dockerfiles(tmp_path):
    """trivy's Dockerfile checks, offline (its bundled checks; no vulnerability DB can be fetched here)."""
    result = run(
        [
            tool("trivy"),
            "config",
            "--skip-check-update",
            "--cache-dir",
            str(tmp_path),
            "--exit-code",
            "1",
            "--format",
            "json",
            str(ROOT / "containers"),
        ],
        check=False,
    )
    report = json.loads(result.stdout)
    scanned = {r["Target"] for r in report.get("Results", [])}
    assert {"training/Dockerfile", "airflow/Dockerfile"} <= scanned, scanned
    failures = [
        f"{r['Target']}: {m['ID']} {m['Title']}" for r in report["Results"] for m in r.get("Misconfigurations", [])
    ]
    assert not failures and result.returncode == 0, failures or result.stderr[-2000:]
