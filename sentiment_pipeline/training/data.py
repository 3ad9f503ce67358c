"""Loading, validating and splitting labelled tweet datasets (``text,label_text``; CSV or Parquet, either one
plain or gzip-compressed)."""

from __future__ import annotations

import gzip
import hashlib
import io
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from ..errors import DatasetError
from ..inference.cleaning import CleaningConfig, clean_tokens
from ..records import record
from ..records.store import read_uri

if TYPE_CHECKING:
    from pandas.io.formats.style import Styler

LABELS: tuple[str, ...] = ("negative", "neutral", "positive")
TEXT_COLUMN = "text"
LABEL_COLUMN = "label_text"
MIN_ROWS_PER_LABEL = 5  # below this a stratified train/validation/test split is meaningless


@dataclass(frozen=True)
class Dataset:
    frame: pd.DataFrame  # columns text, label_text; only usable rows
    sha256: str
    dropped_empty: int


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# A gzip-compressed file (``.csv.gz``, ``.parquet.gz``; recognised by its first bytes) is read within this many bytes
# decompressed: a small file that expands without end (a gzip bomb) is refused at the bound, never held whole.
MAX_DECOMPRESSED_BYTES = 2 * 1024**3
GZIP_MAGIC = b"\x1f\x8b"
_GUNZIP_CHUNK = 1024 * 1024
# Other compressions, by their first bytes: refused by name (they were refused as "not UTF-8 text").
_OTHER_COMPRESSIONS = (
    (re.compile(rb"PK(\x03\x04|\x05\x06|\x07\x08)"), "zip"),
    (re.compile(rb"BZh[1-9](1AY&SY|\x17rE8P\x90)"), "bzip2"),
    (re.compile(rb"\xfd7zXZ\x00"), "xz"),
    (re.compile(rb"\x28\xb5\x2f\xfd"), "zstd"),
    (re.compile(rb"7z\xbc\xaf\x27\x1c"), "7z"),
)


def _gunzip(data: bytes, name: str) -> bytearray:
    """Every gzip member of ``data`` decompressed (CRCs checked, zero padding allowed), a chunk at a time, refused
    beyond ``MAX_DECOMPRESSED_BYTES``."""
    out = bytearray()
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
            while chunk := stream.read(_GUNZIP_CHUNK):
                out += chunk
                if len(out) > MAX_DECOMPRESSED_BYTES:
                    raise DatasetError(
                        f"{name}: gzip data decompresses to more than {MAX_DECOMPRESSED_BYTES:,} bytes; refused"
                    )
    except EOFError:
        raise DatasetError(f"{name} is truncated: its gzip data ends early") from None
    except (OSError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError: bad header, CRC, data after the end
        raise DatasetError(f"{name} is not valid gzip data: {exc}") from None
    return out


def _decompressed(data: bytes, name: str) -> tuple[bytes | bytearray, str]:
    """The bytes to parse and the name that says their format: gzip is opened (``x.csv.gz`` is parsed as
    ``x.csv``), any other compression is refused naming it."""
    if data.startswith(GZIP_MAGIC):
        base = name[:-3] if name.lower().endswith(".gz") else name
        return _gunzip(data, name), base
    for magic, compression in _OTHER_COMPRESSIONS:
        if magic.match(data):
            raise DatasetError(
                f"{name} is {compression}-compressed: only gzip (.csv.gz, .parquet.gz) is read; "
                "decompress it or compress it with gzip"
            )
    return data, name


def _parse(data: bytes, name: str) -> pd.DataFrame:
    data, name = _decompressed(data, name)
    if name.lower().endswith(".parquet"):
        try:
            return pd.read_parquet(io.BytesIO(data))
        except Exception as exc:
            raise DatasetError(f"cannot read Parquet {name}: {exc}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError(
            f"{name} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); re-save it as UTF-8"
        ) from None
    if not text.strip():
        raise DatasetError(f"{name} is empty")
    try:
        return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except Exception as exc:
        raise DatasetError(f"cannot parse CSV {name}: {str(exc).strip().splitlines()[0]}") from None


def validate(frame: pd.DataFrame, name: str = "dataset") -> tuple[pd.DataFrame, int]:
    """Check columns, labels and texts; return the usable rows and how many empty texts were dropped."""
    missing = [c for c in (TEXT_COLUMN, LABEL_COLUMN) if c not in frame.columns]
    if missing:
        found = ", ".join(map(str, frame.columns)) or "none"
        raise DatasetError(f"{name}: missing column(s) {', '.join(missing)} (found: {found})")
    if frame.empty:
        raise DatasetError(f"{name}: no rows")
    frame = pd.DataFrame(
        {
            TEXT_COLUMN: frame[TEXT_COLUMN].fillna("").astype(str),
            LABEL_COLUMN: frame[LABEL_COLUMN].fillna("").astype(str).str.strip().str.lower(),
        }
    ).reset_index(drop=True)
    unknown = frame.loc[~frame[LABEL_COLUMN].isin(LABELS), LABEL_COLUMN]
    if len(unknown):
        values = ", ".join(repr(v) for v in sorted(unknown.unique())[:5])
        raise DatasetError(
            f"{name}: unknown label(s) {values} in {len(unknown)} row(s), first at row {unknown.index[0] + 1}; "
            f"expected {', '.join(LABELS)}"
        )
    empty = frame[TEXT_COLUMN].str.strip() == ""
    if empty.all():
        raise DatasetError(f"{name}: all {len(frame)} texts are empty")
    return frame.loc[~empty].reset_index(drop=True), int(empty.sum())


def load_dataset(data: bytes, name: str = "dataset.csv") -> Dataset:
    """Parse and validate raw dataset bytes; the sha256 is of exactly these bytes."""
    frame, dropped = validate(_parse(data, name), name)
    return Dataset(frame=frame, sha256=sha256_hex(data), dropped_empty=dropped)


def read_labelled(uri: str) -> tuple[bytes, Dataset, dict[str, Any]]:
    """A labelled file behind a URI: its bytes, the validated dataset, and what a run records of it (``uri``,
    ``name``, ``sha256``, ``bytes``, ``rows``). Raises StoreError (unreadable) or DatasetError (unusable)."""
    raw = read_uri(uri)
    name = PurePosixPath(uri.split("?")[0]).name or "dataset.csv"
    dataset = load_dataset(raw, name)
    facts = {"uri": uri, "name": name, "sha256": dataset.sha256, "bytes": len(raw), "rows": len(dataset.frame)}
    return raw, dataset, facts


def read_split(source: str | Path | IO[bytes]) -> pd.DataFrame:
    """One split CSV as saved by ``save_splits``: every cell a string, empty cells kept as ''."""
    return pd.read_csv(source, dtype=str, keep_default_na=False)


def duplicate_keys(texts: Sequence[str], cleaning: CleaningConfig | None = None) -> list[str]:
    """What the model sees of each text (its cleaned tokens): two texts with the same key are duplicates for it,
    exact copies and near copies alike (case, URLs, handles, spacing, lengthening)."""
    cleaning = cleaning or CleaningConfig()
    return [" ".join(clean_tokens(text, cleaning)) for text in texts]


def seen_in(frame: pd.DataFrame, trained_on: Sequence[pd.DataFrame]) -> np.ndarray:
    """For each row of ``frame``: is its cleaned text (``duplicate_keys``, default cleaning) in any of
    ``trained_on``? Scoring a model on texts it trained on rewards memory, so evaluations leave those rows out."""
    seen = {key for part in trained_on for key in duplicate_keys(list(part[TEXT_COLUMN]))}
    return np.array([key in seen for key in duplicate_keys(list(frame[TEXT_COLUMN]))], dtype=bool)


def duplicates(frame: pd.DataFrame, keys: Sequence[str]) -> dict:
    """How many rows repeat another row's cleaned text, in how many groups, and how many groups disagree on the
    label; the split keeps each group in one part (data report, metrics.json)."""
    grouped = pd.DataFrame({"key": list(keys), "label": frame[LABEL_COLUMN].to_numpy()}).groupby("key")["label"]
    sizes = grouped.size()
    return {
        "rows": int(sizes[sizes > 1].sum() - (sizes > 1).sum()),
        "groups": int((sizes > 1).sum()),
        "groups_with_conflicting_labels": int((grouped.nunique() > 1).sum()),
    }


def split_dataset(
    frame: pd.DataFrame,
    val_size: float = 0.1,
    test_size: float = 0.1,
    seed: int = 42,
    cleaning: CleaningConfig | None = None,
) -> dict[str, pd.DataFrame]:
    """Stratified train/validation/test split in which duplicates never straddle parts.

    Rows with the same cleaned text (``duplicate_keys``) form one group and the groups are split, stratified by
    each group's first label: copies of a test tweet in the training data would score memorisation as skill (the
    sample repeated three times scored a baseline macro-F1 of 0.93 instead of 0.39). Without duplicates this is
    the plain stratified row split. The same data, seed and cleaning always give the same split.
    """
    if not (0 < val_size < 1 and 0 < test_size < 1 and val_size + test_size < 1):
        raise DatasetError("val_size and test_size must be in (0, 1) and sum to less than 1")
    keys = pd.Series(duplicate_keys(list(frame[TEXT_COLUMN]), cleaning), index=frame.index)
    groups = frame.loc[~keys.duplicated()]  # one row per cleaned text, in first-appearance order
    counts = groups[LABEL_COLUMN].value_counts()
    rare = {label: int(counts.get(label, 0)) for label in LABELS if counts.get(label, 0) < MIN_ROWS_PER_LABEL}
    if rare:
        detail = ", ".join(f"{label} {n}" for label, n in rare.items())
        raise DatasetError(
            f"too few distinct texts per label for a stratified split ({detail}; need {MIN_ROWS_PER_LABEL})"
        )
    try:
        rest, test = train_test_split(groups, test_size=test_size, stratify=groups[LABEL_COLUMN], random_state=seed)
        train, val = train_test_split(
            rest, test_size=val_size / (1 - test_size), stratify=rest[LABEL_COLUMN], random_state=seed
        )
    except ValueError as exc:  # e.g. a test part smaller than the number of labels
        raise DatasetError(f"cannot split {len(groups)} distinct texts with these sizes: {exc}") from None
    members = keys.groupby(keys, sort=False).groups  # cleaned text -> every row index holding it
    parts = {}
    for name, part in (("train", train), ("val", val), ("test", test)):
        rows = [row for key in keys.loc[part.index] for row in members[key]]
        parts[name] = frame.loc[rows].reset_index(drop=True)
    return parts


def profile(frame: pd.DataFrame) -> dict:
    """Counts a person checks first: class balance, text lengths, duplicates."""
    lengths = frame[TEXT_COLUMN].str.len()
    words = frame[TEXT_COLUMN].str.split().str.len()
    return {
        "rows": int(len(frame)),
        "labels": {label: int((frame[LABEL_COLUMN] == label).sum()) for label in LABELS},
        "duplicate_texts": int(frame[TEXT_COLUMN].duplicated().sum()),
        "chars": {"mean": float(lengths.mean()), "p50": float(lengths.median()), "max": int(lengths.max())},
        "words": {"mean": float(words.mean()), "p95": float(words.quantile(0.95)), "max": int(words.max())},
    }


PROFILE_ROWS = {
    "rows": "rows",
    **{f"labels.{label}": f"labelled {label}" for label in LABELS},
    "duplicate_texts": "exact duplicate texts",
    "chars.mean": "characters per text, mean",
    "chars.p50": "characters per text, median",
    "chars.max": "characters per text, max",
    "words.mean": "words per text, mean",
    "words.p95": "words per text, 95th percentile",
    "words.max": "words per text, max",
}


def profile_table(stats: dict) -> Styler:
    """``profile``'s numbers as the data report shows them: counts as integers, means and quantiles to one decimal
    (a one-column frame of mixed numbers printed every count as ``1500.000000``)."""
    flat = {
        f"{key}.{inner}" if isinstance(value, dict) else key: inner_value
        for key, value in stats.items()
        for inner, inner_value in (value.items() if isinstance(value, dict) else [(key, value)])
    }
    values = {PROFILE_ROWS.get(key, key): flat[key] for key in PROFILE_ROWS if key in flat}
    frame = pd.DataFrame({"value": pd.Series(values, dtype=object)})
    return frame.style.format(lambda v: f"{v:,}" if isinstance(v, (int, np.integer)) else f"{v:,.1f}")


SPLITS = ("train", "val", "test")


def save_splits(splits: dict[str, pd.DataFrame], split_dir: str | Path) -> None:
    split_dir = Path(split_dir)
    split_dir.mkdir(parents=True, exist_ok=True)
    for name, frame in splits.items():
        frame[[TEXT_COLUMN, LABEL_COLUMN]].to_csv(split_dir / _split_file(name), index=False)


def load_splits(split_dir: str | Path) -> dict[str, pd.DataFrame]:
    return {name: read_split(Path(split_dir) / _split_file(name)) for name in SPLITS}


def _split_file(part: str) -> str:
    """A part's file name in the split folder, as the run records it under ``data/``."""
    return PurePosixPath(record.split_path(part)).name


def label_ids(labels: Sequence[str], label_order: Sequence[str] = LABELS) -> np.ndarray:
    index = {label: i for i, label in enumerate(label_order)}
    return np.array([index[label] for label in labels], dtype=np.int32)
