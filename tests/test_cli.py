import hashlib

from conftest import cli


def test_help_lists_the_commands():
    result = cli("--help", check=True)
    for command in ("run", "evaluate", "predict", "reports", "sample"):
        assert command in result.stdout


def test_sample_is_deterministic_and_valid(tmp_path):
    from sentiment_pipeline.data import load_dataset

    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    cli("sample", "--out", str(first), check=True)
    cli("sample", "--out", str(second), check=True)
    assert hashlib.sha256(first.read_bytes()).digest() == hashlib.sha256(second.read_bytes()).digest()
    frame = load_dataset(first.read_bytes()).frame
    assert len(frame) == 300 and frame["label_text"].value_counts().to_dict() == {
        "positive": 100,
        "negative": 100,
        "neutral": 100,
    }


def test_predict_on_an_empty_store_says_why(tmp_path):
    result = cli("predict", "--store", str(tmp_path), "hello")
    assert result.returncode == 2
    assert "latest.json does not exist: no run has succeeded in this store yet" in result.stderr


def test_run_requires_data_and_store(monkeypatch):
    monkeypatch.delenv("SENTIMENT_PIPELINE_DATA", raising=False)
    monkeypatch.delenv("SENTIMENT_PIPELINE_STORE", raising=False)
    result = cli("run")
    assert result.returncode == 2 and "--data" in result.stderr
