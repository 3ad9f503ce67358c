"""How a reproduction is judged: metrics leaf by leaf without the wall-clock timings, weights tensor by tensor."""

import io
import zipfile

import numpy as np
import pytest

from sentiment_pipeline.records import record
from sentiment_pipeline.training.reproduction import compare_metrics, compare_weights, summary


def _metrics(macro_f1=0.75, fit_s=130.0, total_s=170.0):
    return {
        "model": {"macro_f1": macro_f1, "per_class": {"neutral": {"f1": 0.7, "support": 1100}}},
        "training": {"best_epochs": [2, 2], "fit_s": fit_s, "clean_s": 3.0},
        "timings": {"train_s": total_s - 10, "total_s": total_s},
    }


def test_metrics_that_differ_only_in_timings_are_identical():
    result = compare_metrics(_metrics(), _metrics(fit_s=99.0, total_s=150.0))
    assert result["identical"] and result["differ"] == 0 and result["max_abs_diff"] == 0
    assert result["compared"] == 5  # macro_f1, f1, support and two best epochs; fit_s, clean_s, timings left out
    changed = _metrics(macro_f1=0.7512)
    changed["training"]["best_epochs"] = [2, 1]
    result = compare_metrics(_metrics(), changed)
    assert not result["identical"] and result["differ"] == 2
    assert result["max_abs_diff"] == 1  # the kept epoch moved by one; macro-F1 by 0.0012
    assert result["macro_f1"] == {"recorded": 0.75, "reproduced": 0.7512}
    assert {d["path"] for d in result["differences"]} == {"model.macro_f1", "training.best_epochs[1]"}


def _keras_file(arrays: dict) -> bytes:
    """A .keras zip with its weights file, as Keras 3 writes it (variables as HDF5 datasets)."""
    import h5py

    weights = io.BytesIO()
    with h5py.File(weights, "w") as h5:
        for name, value in arrays.items():
            h5.create_dataset(name, data=value)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("config.json", "{}")
        archive.writestr("model.weights.h5", weights.getvalue())
    return out.getvalue()


def test_weights_are_compared_variable_by_variable():
    rng = np.random.default_rng(0)
    arrays = {
        "layers/embedding/vars/0": rng.random((50, 8)).astype("float32"),
        "layers/dense/vars/0": rng.random((8, 3)).astype("float32"),
        "layers/dense/vars/1": np.zeros(3, dtype="float32"),
    }
    same = compare_weights(_keras_file(arrays), _keras_file(arrays))
    assert same == {
        "identical": True,
        "tensors": 3,
        "parameters": 50 * 8 + 8 * 3 + 3,
        "differ": 0,
        "max_abs_diff": 0.0,
        "differing": [],
    }
    nudged = {**arrays, "layers/dense/vars/1": np.array([0, 0.25, 0], dtype="float32")}
    result = compare_weights(_keras_file(arrays), _keras_file(nudged))
    assert not result["identical"] and result["differing"] == ["layers/dense/vars/1"]
    assert result["max_abs_diff"] == pytest.approx(0.25)
    reshaped = {**arrays, "layers/dense/vars/0": np.zeros((8, 4), dtype="float32")}
    result = compare_weights(_keras_file(arrays), _keras_file(reshaped))
    assert result["differ"] == 1 and result["max_abs_diff"] is None  # no number measures a changed architecture


def test_the_summary_says_what_differs():
    outcome = {
        "reproduces": "R",
        "identical": False,
        "metrics": compare_metrics(_metrics(), _metrics(macro_f1=0.74)),
        "weights": {"identical": False, "tensors": 35, "parameters": 9, "differ": 2, "max_abs_diff": 3e-7},
        "splits_identical": True,
        "tokenizer_identical": True,
    }
    assert summary(outcome) == (
        "differs from run R: 1 metric values differ (largest by 0.01; macro-F1 0.7500 -> 0.7400); "
        "2 of 35 weight tensors differ (largest by 3e-07)"
    )


# ---- `sentiment-pipeline reproduce` on a real recorded run ----------------------------------------------------------
@pytest.mark.slow
def test_reproducing_a_run_gives_identical_metrics_and_weights_in_a_run_that_names_it(finished_run, tmp_path):
    import json
    import shutil

    from support.project import cli

    source_store, source_id = finished_run
    store = tmp_path / "store"
    shutil.copytree(source_store, store)  # the shared run stays read-only
    latest = (store / "latest.json").read_text()

    result = cli("reproduce", "--store", str(store), "--run-id", source_id, "--new-run-id", "again")

    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["run_id"] == "again" and out["reproduces"] == source_id and out["identical"] is True
    assert out["metrics_max_abs_diff"] == 0 and out["weights_max_abs_diff"] == 0
    run_dir = store / "runs" / "again"
    outcome = json.loads((run_dir / "reproduction.json").read_text())
    assert outcome["weights"]["tensors"] > 10 and outcome["weights"]["differ"] == 0
    assert outcome["metrics"]["compared"] > 50 and outcome["splits_identical"] and outcome["tokenizer_identical"]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "succeeded" and manifest["reproduces"] == source_id
    # it ran the source's recorded notebooks, and says whether they differ from the installed ones: exactly when the
    # source's own notebooks were edited (both are held against the same package or commit)
    source_manifest = json.loads((store / "runs" / source_id / "manifest.json").read_text())
    assert {entry["origin"] for entry in manifest["notebooks"].values()} == {f"run {source_id}"}
    assert out["recorded_notebooks_differ"] == record.edited_notebooks(source_manifest)
    for name, entry in manifest["notebooks"].items():  # an executed copy hashes like its source, cell for cell
        assert entry["cells_sha256"] == source_manifest["notebooks"][name]["cells_sha256"]
    assert "reproduction.json" in {entry["path"] for entry in manifest["files"]}  # part of the verified record
    recorded = json.loads((store / "runs" / source_id / "params.json").read_text())
    reproduced = json.loads((run_dir / "params.json").read_text())
    assert reproduced["params"] == recorded["params"] and reproduced["data"]["sha256"] == recorded["data"]["sha256"]
    assert (store / "latest.json").read_text() == latest  # a reproduction checks a model; it does not offer one
    assert f"reproduction: identical to run {source_id}" in result.stderr
    index = (store / "index.html").read_text()  # the runs index links the two both ways
    assert f'reproduces <a href="#run-{source_id}">' in index and 'reproduced by <a href="#run-again">' in index


@pytest.mark.slow
def test_a_reproduction_whose_data_changed_is_refused_before_anything_runs(finished_run, tmp_path):
    import json

    from support.project import cli

    store, source_id = finished_run
    recorded = json.loads((store / "runs" / source_id / "params.json").read_text())["data"]
    changed = tmp_path / "tweets.csv"
    original = open(recorded["uri"], encoding="utf-8").read()
    changed.write_text(original + "one more tweet,neutral\n", encoding="utf-8")
    runs_before = sorted(p.name for p in (store / "runs").iterdir())

    result = cli("reproduce", "--store", str(store), "--run-id", source_id, "--data", str(changed))

    assert result.returncode == 2 and result.stdout == ""
    [line] = result.stderr.strip().splitlines()  # one line, no traceback
    assert line.startswith(f"error: the data changed since run {source_id}: {changed} has sha256 ")
    assert f"recorded {recorded['sha256'][:12]}" in line and f"{recorded['rows']} rows" in line
    assert "pass --data with the original file" in line
    assert sorted(p.name for p in (store / "runs").iterdir()) == runs_before  # nothing was started


def test_a_run_recorded_before_split_seed_is_reproduced_with_the_split_its_seed_made(tmp_path):
    """Records from before `split_seed` split with `seed`: a reproduction must split the same way, and say so. Nor
    had they a teacher, whatever the default is now."""
    import json

    from sentiment_pipeline.records import record
    from sentiment_pipeline.records.store import LocalStore
    from sentiment_pipeline.training.reproduction import prepare

    store = LocalStore(tmp_path / "store")
    data = tmp_path / "tweets.csv"
    data.write_text("text,label_text\ngood day,positive\nbad day,negative\nsome day,neutral\n", encoding="utf-8")
    raw = data.read_bytes()
    files = {
        record.PARAMS: record.to_json_bytes(
            {"params": {"seed": 7, "epochs": 1}, "data": {"uri": str(data), "sha256": record.sha256_bytes(raw)}}
        ),
        "notebooks/preprocess.ipynb": b"{}",
        "notebooks/train.ipynb": b"{}",
    }
    for name, body in files.items():
        store.write_bytes(record.run_key("old", name), body)
    manifest = {
        "status": record.SUCCEEDED,
        "files": [
            {"path": name, "sha256": record.sha256_bytes(body), "bytes": len(body)} for name, body in files.items()
        ],
    }
    store.write_bytes(record.run_key("old", record.MANIFEST), json.dumps(manifest).encode())

    source = prepare(store, "old", tmp_path / "work")

    assert source.params == {"seed": 7, "epochs": 1, "split_seed": 7, "teacher": "none"}
    assert (source.notebooks / "train.ipynb").read_bytes() == b"{}"
