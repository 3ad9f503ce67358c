"""`sentiment-pipeline package` refuses what it cannot package with exit code 2 and a one-line error."""

from __future__ import annotations

from support.project import cli


def test_package_names_a_missing_run(tmp_path):
    result = cli("package", "--store", str(tmp_path), "--run-id", "nope", env={"BENTOML_HOME": str(tmp_path / "b")})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == f"error: run nope not found in {tmp_path.as_uri()}"


def test_package_help_documents_its_interface():
    result = cli("package", "--help")
    assert result.returncode == 0
    assert all(flag in result.stdout for flag in ("--store", "--run-id", "--project-dir"))
