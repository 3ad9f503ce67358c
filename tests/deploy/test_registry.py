"""`sentiment-pipeline register`: every registered model carries model.onnx, runs recorded before runs exported
one included (exported at registration and checked on the run's own test split)."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest
import yaml

from sentiment_pipeline.deploy.registry import MODEL_NAME, bento_version
from support.project import cli


def _registered(home, run_id: str) -> tuple[set[str], dict]:
    folder = home / "models" / MODEL_NAME / bento_version(run_id)
    return {p.name for p in folder.iterdir()}, yaml.safe_load((folder / "model.yaml").read_text())["metadata"]


@pytest.mark.slow
def test_a_run_gets_registered_with_the_onnx_export_training_checked(finished_run, tmp_path):
    store, run_id = finished_run
    home = tmp_path / "bentoml"
    cli("register", "--store", str(store), "--run-id", run_id, env={"BENTOML_HOME": str(home)}, check=True)
    files, metadata = _registered(home, run_id)
    assert files == {"model.onnx", "tokenizer.json", "labels.json", "model.yaml"}  # what serving reads; no model.keras
    recorded = json.loads((store / "runs" / run_id / "metrics.json").read_text())["onnx"]
    assert metadata["onnx"] == {
        "exported": "training",
        **{k: recorded[k] for k in ("n", "max_abs_diff", "argmax_agrees")},
    }

    # A model registered before models carried model.onnx (the service cannot load it) is registered again.
    folder = home / "models" / MODEL_NAME / bento_version(run_id)
    (folder / "model.onnx").unlink()
    again = cli("register", "--store", str(store), "--run-id", run_id, env={"BENTOML_HOME": str(home)}, check=True)
    assert json.loads(again.stdout)["created"] is True and (folder / "model.onnx").is_file()
    unchanged = cli("register", "--store", str(store), "--run-id", run_id, env={"BENTOML_HOME": str(home)}, check=True)
    assert json.loads(unchanged.stdout)["created"] is False


@pytest.mark.slow
def test_a_run_recorded_before_onnx_exports_it_at_registration(finished_run, tmp_path):
    source, run_id = finished_run
    store = tmp_path / "store"
    shutil.copytree(source, store)
    run = store / "runs" / run_id
    (run / "model" / "model.onnx").unlink()  # what an older run's record looks like, manifest included
    metrics = json.loads((run / "metrics.json").read_text())
    del metrics["onnx"]
    (run / "metrics.json").write_text(json.dumps(metrics))
    manifest = json.loads((run / "manifest.json").read_text())
    body = (run / "metrics.json").read_bytes()
    manifest["files"] = [
        {**f, "sha256": hashlib.sha256(body).hexdigest(), "bytes": len(body)} if f["path"] == "metrics.json" else f
        for f in manifest["files"]
        if f["path"] != "model/model.onnx"
    ]
    (run / "manifest.json").write_text(json.dumps(manifest))
    home = tmp_path / "bentoml"

    cli("register", "--store", str(store), "--run-id", run_id, env={"BENTOML_HOME": str(home)}, check=True)

    files, metadata = _registered(home, run_id)
    assert "model.onnx" in files
    assert metadata["onnx"]["exported"] == "registration" and metadata["onnx"]["argmax_agrees"]
    assert metadata["onnx"]["n"] == 60 and metadata["onnx"]["max_abs_diff"] <= 1e-5  # the run's whole test split
    assert not (run / "model" / "model.onnx").exists()  # the record itself is never rewritten


def test_where_the_export_cannot_run_the_error_names_the_fix(monkeypatch, tmp_path):
    from sentiment_pipeline.deploy import registry
    from sentiment_pipeline.errors import BadInput

    real = registry.importlib.util.find_spec
    monkeypatch.setattr(registry.importlib.util, "find_spec", lambda n: None if n == "tf2onnx" else real(n))
    with pytest.raises(
        BadInput, match=r"run old-run has no model.onnx .* \(tf2onnx not installed\): register it with `sentiment-pipe"
    ):
        registry._export_older(None, "old-run", tmp_path, {}, lambda *_: {})
    monkeypatch.setattr(registry.importlib.util, "find_spec", real)
    with pytest.raises(BadInput, match=r"\(no exporter was given\): register it with `sentiment-pipeline register`"):
        registry._export_older(None, "old-run", tmp_path, {}, None)  # deploy/ alone cannot export: the CLI wires it


@pytest.mark.slow
def test_a_record_changed_after_the_run_is_refused_naming_the_file(finished_run, tmp_path):
    """A truncated model file was registered and the service crash-looped; now every reader checks the manifest."""
    source, run_id = finished_run
    store = tmp_path / "store"
    shutil.copytree(source, store)
    model = store / "runs" / run_id / "model" / "model.onnx"
    model.write_bytes(model.read_bytes()[:1000])  # truncated after the run
    home = {"BENTOML_HOME": str(tmp_path / "bentoml")}
    for command in (("register",), ("predict", "hello")):
        result = cli(*command[:1], "--store", str(store), "--run-id", run_id, *command[1:], env=home)
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        assert f"run {run_id}: model/model.onnx does not match its manifest (1,000 bytes" in result.stderr
    assert not (tmp_path / "bentoml" / "models" / MODEL_NAME).exists()  # nothing registered
