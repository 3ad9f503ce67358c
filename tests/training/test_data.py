import pandas as pd
import pytest

from sentiment_pipeline.training.data import (
    DatasetError,
    duplicate_keys,
    duplicates,
    load_dataset,
    profile,
    split_dataset,
)

# Distinct after cleaning (numbers all clean to one placeholder, so "tweet 5" and "tweet 8" would be duplicates).
TOPICS = [f"topic{chr(97 + i // 26)}{chr(97 + i % 26)}" for i in range(60)]
GOOD = "text,label_text\n" + "".join(
    f"tweet about {TOPICS[i]} is {'great' if i % 3 == 0 else 'bad' if i % 3 == 1 else 'here'},"
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
    with pytest.raises(DatasetError, match="too few distinct texts per label"):
        split_dataset(frame)


def test_a_split_the_sizes_cannot_make_is_a_dataset_error():
    frame = load_dataset(GOOD.encode()).frame  # 60 rows: a 2 % test part would hold one row for three labels
    with pytest.raises(DatasetError, match="cannot split 60 distinct texts with these sizes"):
        split_dataset(frame, test_size=0.02)


def test_duplicates_never_straddle_the_split_and_are_counted():
    frame = load_dataset(GOOD.encode()).frame
    copies = frame.assign(text=frame["text"].str.upper().str.replace(" ", "   "))  # near copies: same cleaned text
    tripled = pd.concat([frame, frame, copies], ignore_index=True)
    with_url = frame.assign(text=frame["text"] + " http://t.co/y")

    parts = split_dataset(tripled, val_size=0.2, test_size=0.2, seed=3)

    keys = {name: set(duplicate_keys(list(part["text"]))) for name, part in parts.items()}
    assert not (keys["train"] & keys["test"] or keys["train"] & keys["val"] or keys["val"] & keys["test"])
    assert sum(len(part) for part in parts.values()) == len(tripled)  # nothing dropped: groups move whole
    assert {k: len(v) for k, v in parts.items()} == {"train": 108, "val": 36, "test": 36}
    found = duplicates(tripled, duplicate_keys(list(tripled["text"])))
    assert found == {"rows": 120, "groups": 60, "groups_with_conflicting_labels": 0}
    assert duplicates(with_url, duplicate_keys(list(with_url["text"]))) == {
        "rows": 0, "groups": 0, "groups_with_conflicting_labels": 0
    }  # fmt: skip
    # without duplicates the split is the plain stratified row split it always was
    plain = split_dataset(frame, val_size=0.2, test_size=0.2, seed=3)
    assert list(plain["test"]["text"]) == list(parts["test"]["text"][::3])  # each group: the original, then copies


def test_profile_counts():
    stats = profile(load_dataset(GOOD.encode()).frame)
    assert stats["rows"] == 60 and stats["labels"] == {"negative": 20, "neutral": 20, "positive": 20}


def test_the_profile_table_prints_counts_as_integers_and_averages_to_one_decimal():
    import re

    from sentiment_pipeline.training.data import profile_table

    html = profile_table(profile(load_dataset(GOOD.encode()).frame)).to_html()
    names = re.findall(r'class="row_heading[^>]*>([^<]*)<', html)
    cells = dict(zip(names, re.findall(r'class="data[^>]*>([^<]*)<', html), strict=True))
    assert cells["rows"] == "60" and cells["labelled negative"] == "20" and cells["exact duplicate texts"] == "0"
    assert cells["characters per text, max"].isdigit() and cells["words per text, max"] == "5"
    assert cells["words per text, mean"] == "5.0" and len(cells["characters per text, mean"].split(".")[1]) == 1


# ---- compressed files: gzip is read (by its first bytes), within a bound; other compressions are refused by name ----


def _gzip(data: bytes) -> bytes:
    import gzip

    return gzip.compress(data, mtime=0)


def test_a_gzip_compressed_csv_is_read_and_hashed_as_given():
    import hashlib

    packed = _gzip(GOOD.encode())
    dataset = load_dataset(packed, "good.csv.gz")  # it was refused as "not UTF-8 text (byte 0x1f at offset 0)"
    assert len(dataset.frame) == 60 and dataset.sha256 == hashlib.sha256(packed).hexdigest()  # the file's bytes
    assert len(load_dataset(packed, "good.csv").frame) == 60  # recognised by its first bytes, not by its name
    half = len(GOOD) // 2
    cut = GOOD.rindex("\n", 0, half) + 1
    members = _gzip(GOOD[:cut].encode()) + _gzip(GOOD[cut:].encode())  # concatenated members, as `cat a.gz b.gz`
    assert load_dataset(members, "good.csv.gz").frame.equals(dataset.frame)


def test_a_gzip_compressed_parquet_is_read(tmp_path):
    path = tmp_path / "d.parquet"
    pd.DataFrame({"text": ["a", "b"], "label_text": ["positive", "neutral"]}).to_parquet(path)
    assert len(load_dataset(_gzip(path.read_bytes()), "d.parquet.gz").frame) == 2


def _zip(data: bytes) -> bytes:
    import io
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("tweets.csv", data)
    return out.getvalue()


def _bz2(data: bytes) -> bytes:
    import bz2

    return bz2.compress(data)


def _xz(data: bytes) -> bytes:
    import lzma

    return lzma.compress(data)


@pytest.mark.parametrize(
    ("pack", "compression"),
    [
        (_zip, "zip"),
        (_bz2, "bzip2"),
        (_xz, "xz"),
        (lambda data: b"\x28\xb5\x2f\xfd" + b"\x00" * 16, "zstd"),  # the zstd frame's magic number
        (lambda data: b"7z\xbc\xaf\x27\x1c" + b"\x00" * 16, "7z"),
    ],
    ids=["zip", "bzip2", "xz", "zstd", "7z"],
)
def test_other_compressions_are_refused_in_one_line_naming_the_compression(pack, compression):
    with pytest.raises(DatasetError) as info:
        load_dataset(pack(GOOD.encode()), "tweets.csv.x")
    message = str(info.value)
    assert f"is {compression}-compressed" in message and "gzip" in message and "\n" not in message, message
    assert "UTF-8" not in message


def test_a_gzip_bomb_is_refused_before_it_fills_memory(monkeypatch):
    import tracemalloc

    from sentiment_pipeline.training import data

    assert data.MAX_DECOMPRESSED_BYTES == 2 * 1024**3  # the documented bound (README, bad input)
    monkeypatch.setattr(data, "MAX_DECOMPRESSED_BYTES", 1024 * 1024)
    bomb = _gzip(b"text,label_text\n" + b"0" * (64 * 1024 * 1024))  # 64 MiB of text in 64 KiB
    tracemalloc.start()
    try:
        with pytest.raises(DatasetError) as info:
            load_dataset(bomb, "bomb.csv.gz")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert str(info.value) == "bomb.csv.gz: gzip data decompresses to more than 1,048,576 bytes; refused", info.value
    assert peak < 8 * 1024 * 1024, peak  # stopped at the bound: never held the 64 MiB


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda packed: packed[: len(packed) // 2], "is truncated"),
        (lambda packed: packed[:10] + b"\xff" * (len(packed) - 10), "is not valid gzip data"),
        (lambda packed: packed + b"junk after the data", "is not valid gzip data"),
    ],
    ids=["truncated", "corrupt", "trailing-junk"],
)
def test_damaged_gzip_is_one_line_naming_the_damage(damage, message):
    with pytest.raises(DatasetError, match=message) as info:
        load_dataset(damage(_gzip(GOOD.encode())), "good.csv.gz")
    assert "\n" not in str(info.value)
