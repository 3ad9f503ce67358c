"""Real papermill runs of both notebooks on small data, through the installed CLI."""

import hashlib
import json
import re

import nbformat
import pytest

from support.project import FAST, SAMPLE_RUN_ID, cli

pytestmark = pytest.mark.slow


def test_run_writes_the_complete_record(finished_run, labelled_csv):
    store, run_id = finished_run
    run = store / "runs" / run_id
    for name in (
        "params.json",
        "metrics.json",
        "manifest.json",
        "notebooks/preprocess.ipynb",
        "notebooks/train.ipynb",
        "reports/preprocess.html",
        "reports/train.html",
        "model/model.keras",
        "model/model.onnx",
        "model/tokenizer.json",
        "model/labels.json",
        "data/train.csv",
        "data/val.csv",
        "data/test.csv",
    ):
        assert (run / name).is_file(), name

    params = json.loads((run / "params.json").read_text())
    assert params["data"]["sha256"] == hashlib.sha256(labelled_csv.read_bytes()).hexdigest()
    assert (
        params["params"]["epochs"] == 4
        and params["params"]["ensemble_size"] == 2
        and params["params"]["seed"] == 42
        and "learning_rate" in params["params"]
    )

    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "succeeded" and manifest["error"] is None
    assert manifest["versions"]["papermill"] and manifest["versions"]["keras"]
    assert {"preprocess_s", "train_s"} <= manifest["timings"].keys()
    peaks = {step: manifest["timings"][f"{step}_peak_mb"] for step in ("data", "preprocess", "train", "record")}
    assert peaks["train"] > 400 and peaks["train"] > peaks["data"]  # the train kernel holds TensorFlow, the runner not
    listed = {f["path"]: f["sha256"] for f in manifest["files"]}
    assert "manifest.json" not in listed and len(listed) >= 12
    for path, digest in listed.items():  # every recorded hash matches the stored bytes
        assert hashlib.sha256((run / path).read_bytes()).hexdigest() == digest, path

    metrics = json.loads((run / "metrics.json").read_text())
    for model in ("model", "baseline"):
        assert {"accuracy", "macro_f1", "macro_recall", "per_class", "confusion_matrix"} <= metrics[model].keys()
        assert metrics[model]["n"] == 60
        assert sum(map(sum, metrics[model]["confusion_matrix"]["rows_true_cols_pred"])) == 60
    assert metrics["model"]["macro_f1"] > 0.45  # learned something from 480 real tweets (chance is ~0.33)
    # the ONNX export was checked against Keras on the whole test split
    assert metrics["onnx"]["passed"] and metrics["onnx"]["argmax_agrees"] and metrics["onnx"]["n"] == 60
    assert metrics["onnx"]["max_abs_diff"] <= 1e-5
    # distilled: the teacher's own scores and how its labels were mixed in, its wall clock apart
    teacher = metrics["teacher"]
    assert teacher["name"] == params["params"]["teacher"] == "minilm" and teacher["config"]["max_len"] == 32
    assert teacher["test"]["n"] == 60 and [e["epoch"] for e in teacher["epochs"]] == [1] and teacher["best_epoch"] == 1
    assert teacher["distill_mix"] == 0.8 and teacher["timings"]["fit_s"] > 0

    assert json.loads((store / "latest.json").read_text())["run_id"] == run_id
    tokenizer = json.loads((run / "model" / "tokenizer.json").read_text())
    assert tokenizer["format"] == "sentiment-pipeline/tokenizer" and tokenizer["cleaning"]["stemmer"] == "none"


def test_executed_notebooks_and_html_reports_are_readable(finished_run):
    store, run_id = finished_run
    notebook = nbformat.read(store / "runs" / run_id / "notebooks" / "train.ipynb", as_version=4)
    injected = [c for c in notebook.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and "epochs = 4" in injected[0].source
    html = (store / "runs" / run_id / "reports" / "train.html").read_text()
    assert html.count("data:image/png;base64") >= 3  # curves + confusion matrices, embedded
    assert "TF-IDF baseline" in html and "Most confident mistakes" in html
    assert "minilm teacher (not served)" in html and "teacher epoch 1/1" in html  # scored beside them, never shipped
    assert "Examples per class" in (store / "runs" / run_id / "reports" / "preprocess.html").read_text()


def _outputs(notebook) -> list[str]:
    return [
        output.get("text", "") + json.dumps(output.get("data", {}))
        for cell in notebook.cells
        for output in cell.get("outputs", [])
    ]


@pytest.mark.parametrize("name", ["preprocess", "train"])
def test_reports_carry_no_tensorflow_noise_and_say_whether_the_data_was_synthetic(finished_run, sample_run, name):
    """Real tweets: no synthetic-data note; the bundled sample: the note, in both reports. Neither has TensorFlow's
    start-up notices, its retracing warnings or any stderr output."""
    real_store, real_id = finished_run
    for store, run_id, synthetic in ((real_store, real_id, False), (sample_run, SAMPLE_RUN_ID, True)):
        notebook = nbformat.read(store / "runs" / run_id / "notebooks" / f"{name}.ipynb", as_version=4)
        streams = [o for c in notebook.cells for o in c.get("outputs", []) if o.get("output_type") == "stream"]
        assert not [o["text"][:300] for o in streams if o["name"] == "stderr"]
        text = "\n".join(_outputs(notebook))
        for noise in ("absl::InitializeLog", "oneDNN custom operations", "WARNING:tensorflow", "tf.function retracing"):
            assert noise not in text, (store, name, noise)
        assert ("**Synthetic data.**" in text) == synthetic, (store, name)


def test_predict_and_evaluate_use_the_recorded_model(finished_run, labelled_csv):
    store, run_id = finished_run
    result = cli("predict", "--store", str(store), "I love this so much", "worst day ever", check=True)
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["text"] for line in lines] == ["I love this so much", "worst day ever"]
    for line in lines:
        assert line["run_id"] == run_id and line["label"] in line["scores"]
        assert abs(sum(line["scores"].values()) - 1) < 1e-3

    evaluated = json.loads(
        cli("evaluate", "--store", str(store), "--run-id", run_id, "--data", str(labelled_csv), check=True).stdout
    )
    assert evaluated["n"] == 600 and evaluated["run_id"] == run_id
    assert 0.45 < evaluated["macro_f1"] <= 1 and {"accuracy", "macro_recall", "per_class"} <= evaluated.keys()


def test_a_succeeded_run_id_is_never_overwritten(finished_run, labelled_csv):
    store, run_id = finished_run
    before = (store / "runs" / run_id / "manifest.json").read_bytes()
    result = cli("run", "--data", str(labelled_csv), "--store", str(store), "--run-id", run_id, *FAST)
    assert result.returncode == 2 and "already succeeded" in result.stderr
    assert (store / "runs" / run_id / "manifest.json").read_bytes() == before


def test_the_console_says_one_line_per_step_and_where_the_reports_are(first_run):
    """What `make run` and the Airflow task log show: a few plain lines; the cells' output stays in the record."""
    lines = first_run.stderr.strip().splitlines()
    assert len(lines) <= 12, first_run.stderr
    steps = [line.split()[1] for line in lines if line.lstrip().startswith("[")]
    assert steps == ["preprocess.ipynb", "train.ipynb"]  # one line each, with its time
    step_line = re.compile(r" \d+\.\d s   peak memory \d+\.\d GiB$")  # its time and its peak (Linux)
    assert all(step_line.search(line.rstrip()) for line in lines if line.lstrip().startswith("[")), lines
    closing = next(line for line in lines if line.startswith("succeeded in "))
    assert "against the baseline's" in closing and "interval [" in closing and "latest.json -> first-run" in closing
    reports = next(line for line in lines if line.startswith("reports: "))
    assert str(first_run.store / "runs" / "first-run" / "reports") in reports and "train.html" in reports
    for noise in ("Executing Cell", "IPKernelApp", "KeyboardInterrupt", "Styler at 0x", "\x1b[", "Epoch 1/"):
        assert noise not in first_run.stderr, noise
