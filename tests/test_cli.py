import hashlib

from support.project import cli


def test_help_lists_the_commands():
    result = cli("--help", check=True)
    for command in ("run", "reproduce", "compare", "gate", "evaluate", "predict", "reports", "sample"):
        assert command in result.stdout


def test_sample_is_deterministic_and_valid(tmp_path):
    from sentiment_pipeline.training.data import load_dataset
    from sentiment_pipeline.training.sample import is_synthetic

    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    cli("sample", "--out", str(first), check=True)
    cli("sample", "--out", str(second), check=True)
    assert hashlib.sha256(first.read_bytes()).digest() == hashlib.sha256(second.read_bytes()).digest()
    frame = load_dataset(first.read_bytes()).frame
    counts = frame["label_text"].value_counts().to_dict()
    assert len(frame) == 1500 and set(counts) == {"positive", "negative", "neutral"}
    assert min(counts.values()) >= 450, counts  # 500 each before a few labels are flipped on purpose
    assert is_synthetic(frame["text"]) and not is_synthetic([*frame["text"][:5], "a real tweet"])


def test_predict_on_an_empty_store_says_why(tmp_path):
    result = cli("predict", "--store", str(tmp_path), "hello")
    assert result.returncode == 2
    assert "latest.json does not exist: no run has succeeded in this store yet" in result.stderr


def test_a_store_that_is_a_file_is_one_error_line_and_exit_2(tmp_path):
    (tmp_path / "store").write_text("a file, not a folder")
    (tmp_path / "data.csv").write_text("text,label_text\nhi,positive\n")
    result = cli("run", "--data", str(tmp_path / "data.csv"), "--store", str(tmp_path / "store"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: cannot write to the store file://")


def test_run_requires_data_and_store(monkeypatch):
    monkeypatch.delenv("SENTIMENT_PIPELINE_DATA", raising=False)
    monkeypatch.delenv("SENTIMENT_PIPELINE_STORE", raising=False)
    result = cli("run")
    assert result.returncode == 2 and "--data" in result.stderr


def test_only_the_projects_bad_input_errors_exit_2_and_a_bug_keeps_its_traceback(monkeypatch, capsys):
    """In process: a DatasetError is one `error:` line and exit 2; a ValueError from a bug is not swallowed."""
    import pytest

    from sentiment_pipeline import cli as cli_module
    from sentiment_pipeline.errors import DatasetError

    def bad_data(args):
        raise DatasetError("tweets.csv: no rows")

    def bug(args):
        raise ValueError("a bug, not the user's input")

    monkeypatch.setattr(cli_module, "cmd_reports", bad_data)
    assert cli_module.main(["reports", "--store", "unused"]) == 2
    assert capsys.readouterr().err == "error: tweets.csv: no rows\n"
    monkeypatch.setattr(cli_module, "cmd_reports", bug)
    with pytest.raises(ValueError, match="a bug"):
        cli_module.main(["reports", "--store", "unused"])


def test_predict_with_no_texts_and_a_bad_run_id_are_bad_input(tmp_path):
    assert cli("predict", "--store", str(tmp_path)).returncode == 2
    result = cli("predict", "--store", str(tmp_path), "--run-id", "../escape", "hello")
    assert result.returncode == 2 and "invalid run id" in result.stderr


def test_reproduce_compare_and_gate_refuse_what_they_cannot_use_in_one_line(tmp_path, capsys):
    import json

    import pytest

    from sentiment_pipeline.cli import main

    def refused(*argv: str) -> str:  # in process: the same main() as the command, without an interpreter start
        assert main(list(argv)) == 2
        return capsys.readouterr().err.strip()

    store = str(tmp_path)
    assert refused("reproduce", "--store", store, "--run-id", "missing") == (
        f"error: run missing not found in file://{store}"
    )
    assert refused("compare", "--store", store, "served", "latest") == (
        f"error: {store}/deployed.json does not exist: nothing was deployed from this store; name a run id"
    )
    # a running run has no model to compare or gate yet
    (tmp_path / "runs" / "busy").mkdir(parents=True)
    (tmp_path / "runs" / "busy" / "manifest.json").write_text(json.dumps({"run_id": "busy", "status": "running"}))
    assert "run busy has status 'running'" in refused(
        "gate", "--store", store, "--run-id", "busy", "--deployed", "none", "--min-macro-f1", "0.7"
    )
    with pytest.raises(SystemExit) as exited:
        main(["compare", "--store", store, "busy", "busy", "--resamples", "5"])
    assert exited.value.code == 2
    assert "--resamples: must be between 100 and 100000, got 5" in capsys.readouterr().err


def test_report_code_reaches_the_run_and_the_comparison(monkeypatch):
    """`--report-code` keeps the code in the HTML reports; without it the reports hide it."""
    import pytest

    from sentiment_pipeline import cli as cli_module
    from sentiment_pipeline.training import run_comparison, runner

    class Arrived(Exception):
        """The flag reached the function; what follows is tested on real runs."""

    calls = []

    def record_flag(*args, **kwargs):
        calls.append(kwargs["report_code"])
        raise Arrived

    monkeypatch.setattr(runner, "run_pipeline", record_flag)
    monkeypatch.setattr(run_comparison, "write_report", record_flag)
    for command in (["run", "--data", "d.csv", "--store", "unused"], ["compare", "--store", "unused", "a", "b"]):
        for extra in ([], ["--report-code"]):
            with pytest.raises(Arrived):
                cli_module.main([*command, *extra])
    assert calls == [False, True, False, True]
