import pandas as pd
import pytest

from sentiment_pipeline.training.data import DatasetError, load_dataset, profile, split_dataset

GOOD = "text,label_text\n" + "".join(
    f"tweet number {i} is {'great' if i % 3 == 0 else 'bad' if i % 3 == 1 else 'here'},"
    f"{'positive' if i % 3 == 0 else 'negative' if i % 3 == 1 else 'neutral'}\n"
    for i in range(60)
)


def test_good_file_loads_with_hash_of_exact_bytes():
    import hashlib

    dataset = load_dataset(GOOD.encode(), "good.csv")
    assert len(dataset.frame) == 60
    assert dataset.sha256 == hashlib.sha256(GOOD.encode()).hexdigest()
    assert set(dataset.frame.columns) == {"text", "label_text"}


def test_labels_are_normalised_and_empty_texts_dropped():
    data = b"text,label_text\nhello, Positive \n   ,neutral\nbye,NEGATIVE\n"
    dataset = load_dataset(data, "x.csv")
    assert list(dataset.frame["label_text"]) == ["positive", "negative"]
    assert dataset.dropped_empty == 1


def test_parquet_is_accepted(tmp_path):
    path = tmp_path / "d.parquet"
    pd.DataFrame({"text": ["a", "b"], "label_text": ["positive", "neutral"]}).to_parquet(path)
    assert len(load_dataset(path.read_bytes(), "d.parquet").frame) == 2


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"text,sentiment\nhi,positive\n", r"missing column\(s\) label_text \(found: text, sentiment\)"),
        (b"text,label_text\nhi,happy\nyo,positive\n", r"unknown label\(s\) 'happy' in 1 row\(s\), first at row 1"),
        (b"text,label_text\n ,positive\n,neutral\n", "all 2 texts are empty"),
        (b"text,label_text\n", "no rows"),
        (b"", "is empty"),
        ("text,label_text\ncaf\u00e9,positive\n".encode("latin-1"), "not UTF-8 text"),
    ],
    ids=["missing-column", "unknown-label", "empty-texts", "no-rows", "empty-file", "latin-1"],
)
def test_bad_datasets_fail_with_one_line_naming_the_problem(data, message):
    with pytest.raises(DatasetError, match=message) as info:
        load_dataset(data, "bad.csv")
    assert "\n" not in str(info.value)


def test_split_is_stratified_disjoint_and_reproducible():
    frame = load_dataset(GOOD.encode()).frame
    first = split_dataset(frame, val_size=0.2, test_size=0.2, seed=3)
    again = split_dataset(frame, val_size=0.2, test_size=0.2, seed=3)
    other = split_dataset(frame, val_size=0.2, test_size=0.2, seed=4)
    assert {k: len(v) for k, v in first.items()} == {"train": 36, "val": 12, "test": 12}
    for name in first:
        pd.testing.assert_frame_equal(first[name], again[name])
        assert first[name]["label_text"].value_counts().nunique() == 1  # equal classes stay equal
    assert not first["test"].equals(other["test"])
    texts = [set(part["text"]) for part in first.values()]
    assert not (texts[0] & texts[1] or texts[0] & texts[2] or texts[1] & texts[2])


def test_split_refuses_too_few_rows_per_label():
    frame = load_dataset(b"text,label_text\na,positive\nb,negative\nc,neutral\n").frame
    with pytest.raises(DatasetError, match="too few rows per label"):
        split_dataset(frame)


def test_profile_counts():
    stats = profile(load_dataset(GOOD.encode()).frame)
    assert stats["rows"] == 60 and stats["labels"] == {"negative": 20, "neutral": 20, "positive": 20}
