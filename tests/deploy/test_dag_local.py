"""`airflow dags test sentiment_training` in local mode: train, gate, register + build the bento, serve it; and the
gate's outcomes as the DAG sees them: promote (nothing deployed, threshold reached), hold (a candidate that may be
worse than the deployed model)."""

from __future__ import annotations

import json
import shutil
import subprocess
from html import escape
from urllib.parse import quote, unquote

import pytest

from support.airflow_harness import RELEASE_TASKS, airflow_api, dags_test, extra_links, local_mode_env
from support.project import BIN, SAMPLE_RUN_ID, TINY

pytestmark = pytest.mark.slow

TASKS = ("resolve_config", "train", *RELEASE_TASKS["local"])
HELD = {**dict.fromkeys(TASKS[:5], "success"), **dict.fromkeys(TASKS[5:], "skipped")}


def test_local_mode_runs_the_whole_dag_and_leaves_a_run_a_model_and_a_bento(airflow_env, sample_csv, tmp_path):
    store = tmp_path / "store"
    env = local_mode_env(airflow_env, sample_csv, store, tmp_path / "bentoml")
    result = dags_test(env, {**TINY, "min_macro_f1": 0.0})

    assert result.returncode == 0 and result.state == "success", result.output[-6000:]
    assert result.task_states == dict.fromkeys(TASKS, "success")
    run_dir = store / "runs" / result.run_id
    assert json.loads((run_dir / "manifest.json").read_text())["status"] == "succeeded"
    assert json.loads((store / "latest.json").read_text())["run_id"] == result.run_id
    params = json.loads((run_dir / "params.json").read_text())
    assert params["data"]["uri"] == str(sample_csv) and params["params"]["epochs"] == 1
    assert (run_dir / "bento" / "context.tar.gz").stat().st_size > 0

    deployed = json.loads((store / "deployed.json").read_text())
    assert deployed["run_id"] == result.run_id
    listed = {}
    for kind in ("models", "list"):
        out = subprocess.run(
            [str(BIN / "bentoml"), *([kind] if kind == "models" else []), "list", "-o", "json"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        listed[kind] = [entry["tag"] for entry in json.loads(out)]
    assert listed["models"] == [deployed["model_tag"]]
    assert listed["list"] == [deployed["bento_tag"]]
    # the smoke test served that bento and its /predict named the new model
    assert f"'model': '{deployed['model_tag']}'" in result.output
    gate = json.loads((run_dir / "gate.json").read_text())
    assert gate["decision"] == "promote" and gate["deployed"] is None and gate["interval"] is None
    assert "nothing deployed to compare with" in gate["reason"]
    assert "quality gate PROMOTE" in result.output
    # the train task links the run's reports and its row of the runs index, on Airflow's own web server (the UI shows
    # no file:// link): the store as the package's Airflow plugin (deploy/airflow_plugin.py) serves it, to Airflow
    # users only, sandboxed
    links = extra_links(env, result.run_id, "train")
    assert links == {
        "Run reports": f"/sentiment-store/runs/{quote(result.run_id, safe='')}/reports/",
        "Runs index": f"/sentiment-store/index.html#{quote(f'run-{result.run_id}', safe=':+')}",
    }
    index_path, fragment = links["Runs index"].split("#")
    listing, report, index, anonymous = airflow_api(
        env,
        (links["Run reports"], True),
        (links["Run reports"] + "train.html", True),
        (index_path, True),
        (links["Run reports"] + "train.html", False),
    )
    assert listing["status"] == report["status"] == index["status"] == 200, (listing, report, index)
    assert '<a href="train.html">train.html</a>' in listing["text"]
    assert report["text"] == (run_dir / "reports" / "train.html").read_text()
    assert report["headers"]["content-security-policy"] == "sandbox"  # no scripts, no access to Airflow's origin
    assert f'<tr id="{escape(unquote(fragment), quote=True)}">' in index["text"]
    assert anonymous["status"] in (401, 403) and "macro" not in anonymous["text"]


def test_the_gate_holds_a_candidate_that_may_be_worse_than_the_deployed_model(
    airflow_env, sample_csv, sample_run, tmp_path
):
    # the store already serves a good model: the shared sample run (the FAST model on the same sample file). A held
    # run's tasks are the same whatever the reason; the other reason, below the form's threshold, is the gate's
    # logic (tests/training/test_quality_gate.py), and the threshold below comes from this form.
    store = tmp_path / "store"
    shutil.copytree(sample_run, store)
    env = local_mode_env(airflow_env, sample_csv, store, tmp_path / "bentoml")
    (store / "deployed.json").write_text(json.dumps({"run_id": SAMPLE_RUN_ID}))

    worse = dags_test(env, {**TINY, "min_macro_f1": 0.05})

    assert worse.state == "success" and worse.task_states == HELD, worse.output[-6000:]
    run_dir = store / "runs" / worse.run_id
    gate = json.loads((run_dir / "gate.json").read_text())
    # the one-member, one-epoch model against the deployed two-member one, on the same test tweets
    assert gate["decision"] == "hold" and gate["deployed"]["run_id"] == SAMPLE_RUN_ID and gate["threshold"] == 0.05
    assert gate["interval"]["low"] < -gate["margin"] and gate["texts"]["source"] == "test splits"
    assert gate["candidate"]["macro_f1"] < gate["deployed"]["macro_f1"]
    report = run_dir / "comparisons" / f"{SAMPLE_RUN_ID}.html"
    assert gate["report"] == str(report) and "Macro-F1 difference" in report.read_text()
    assert json.loads((store / "deployed.json").read_text()) == {"run_id": SAMPLE_RUN_ID}  # still serving it
    assert "may be worse than the deployed model" in worse.output
    assert "quality gate HOLD" in worse.output
