"""Has what the served model sees moved away from what it was tested on? The statistics behind `monitor`.

The captured side is the service's captured answers (``records/captures.py``): each line's ``label`` and, unless the
service hashes texts, its ``text``. The reference is the served run's own record: its test split (tweets of the
kind it trained on, none of which it trained on), the model's labels for them, its tokenizer and its recorded
test macro-F1 (``load_reference``). Four measurements, each a small function here, and ``summary`` joins them
into the one document (``drift.json``) the report shows:

1. ``text_drift``: can a classifier tell captured texts from reference texts? TF-IDF of word and character
   n-grams and a logistic regression, scored by ROC AUC on a held-out half: 0.5 when the two are alike.
2. ``prediction_drift``: the Jensen-Shannon distance (base 2: 0 alike, 1 disjoint) between the shares of each
   label the model gave the captured texts and those it gave the reference.
3. ``vocabulary_and_length``: the share of tokens the model's vocabulary does not know, and text lengths.
4. ``live_quality``: macro-F1 on captured texts someone labelled, with a bootstrap interval.

``drift`` is true when text drift, prediction drift or the rise of the unknown-token rate crosses its threshold.
The unknown-token rate counts because an unknown token reaches the model as one shared "unknown" id: it is input
the model cannot read, and in hash mode (no texts: the domain classifier cannot run) it is the only measure of the
texts themselves. Lengths and live quality are reported beside it, never part of ``drift``: lengths move with
harmless changes in who writes, and a quality drop is its own finding (``quality_below_recorded``).

Every threshold is a module constant; the notebook's parameter of each is its name in lower case (``PARAMETERS``),
``monitor`` takes them by those names and each function by the same name (``monitor_seed`` is each one's ``seed``).
benchmarks/monitoring-results.md has the measurements behind them.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import DatasetError, ParamError, TooFewTexts
from ..inference.cleaning import CleaningConfig
from ..params import MONITOR_DEFAULTS
from ..records import record
from ..records.store import Store
from .comparison import RESAMPLES_PER_CHUNK, _macro_f1_rows
from .data import LABEL_COLUMN, LABELS, TEXT_COLUMN, duplicate_keys, read_split

if TYPE_CHECKING:
    from pandas.io.formats.style import Styler

    from ..inference.predictor import Predictor
    from ..inference.tokenizer import TweetTokenizer

# ---- thresholds: params.MONITOR_PARAMETERS holds each one's default, range and meaning ---------------------------
PARAMETERS: dict[str, float | int] = {**MONITOR_DEFAULTS, "confidence": 0.95}
MIN_TEXTS = PARAMETERS["min_texts"]  # fewer captured texts are refused (TooFewTexts)
MIN_TEXTS_FOR_FIXED_THRESHOLD = PARAMETERS["min_texts_for_fixed_threshold"]
TEXT_DRIFT_AUC_THRESHOLD = PARAMETERS["text_drift_auc_threshold"]
PERMUTATIONS = PARAMETERS["permutations"]
PERMUTATION_QUANTILE = PARAMETERS["permutation_quantile"]
PREDICTION_JS_THRESHOLD = PARAMETERS["prediction_js_threshold"]
OOV_RATE_INCREASE_THRESHOLD = PARAMETERS["oov_rate_increase_threshold"]
DRIFT_TYPICAL_TEXTS = PARAMETERS["drift_typical_texts"]
RESAMPLES = PARAMETERS["resamples"]
CONFIDENCE = PARAMETERS["confidence"]  # of the live macro-F1 interval
MONITOR_SEED = PARAMETERS["monitor_seed"]
TYPICAL_TERMS = 15  # words that most mark a text as captured, for the report
CHANCE_DRAWS = 2_000  # simulated samples behind prediction_drift's chance_p95

LENGTH_QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)
HASH_MODE_REASON = "not measurable in hash mode: the captures carry no texts, only their hashes and token counts"
FACT_COLUMNS = ("length", "tokens", "unknown_tokens")


# ---- the captured lines -------------------------------------------------------------------------------------------
def capture_mode(lines: Sequence[Mapping[str, Any]]) -> str:
    """``full`` when every line carries its text, ``hash`` when none does, ``mixed`` otherwise (the service's
    ``SENTIMENT_CAPTURE_TEXT`` changed within the window)."""
    with_text = sum(isinstance(line.get("text"), str) for line in lines)
    return "full" if with_text == len(lines) else "hash" if with_text == 0 else "mixed"


def captured_texts(lines: Sequence[Mapping[str, Any]]) -> list[str]:
    """The texts of the lines that carry one, in order."""
    return [line["text"] for line in lines if isinstance(line.get("text"), str)]


def captured_labels(lines: Sequence[Mapping[str, Any]]) -> list[str]:
    """The label the model answered, for every line."""
    return [str(line.get("label")) for line in lines]


def check_enough(n_texts: int, min_texts: int = MIN_TEXTS, side: str = "captured") -> None:
    """Raise TooFewTexts when ``n_texts`` is below ``min_texts``."""
    if n_texts < min_texts:
        raise TooFewTexts(
            f"only {n_texts:,} {side} text(s); at least {min_texts:,} are needed to measure drift "
            "(widen the window or wait for more traffic)"
        )


# ---- 1. text drift: a domain classifier ---------------------------------------------------------------------------
def _vectorizer():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    # On cleaned texts (tokens joined by spaces): words and word pairs, and character n-grams within words.
    words = TfidfVectorizer(analyzer="word", ngram_range=(1, 2), token_pattern=r"\S+", sublinear_tf=True, min_df=2)
    chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2, max_features=50_000)
    return FeatureUnion([("word", words), ("char", chars)])


def _held_out_auc(features, sides: np.ndarray, seed: int) -> tuple[float, np.ndarray, Any]:
    """Fit on a stratified half (seeded), score the other: the held-out ROC AUC, the held-out rows and the fit.

    Called once per permutation, so it avoids the per-call overhead of sklearn's splitter and AUC: the halves are
    drawn per side directly, the AUC is the Mann-Whitney statistic of the held-out scores (ties counted half)."""
    from scipy.stats import rankdata
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    held = np.zeros(len(sides), dtype=bool)
    for side in (0, 1):
        rows = np.flatnonzero(sides == side)
        held[rng.permutation(rows)[: len(rows) // 2]] = True
    fit_rows, held_rows = np.flatnonzero(~held), np.flatnonzero(held)
    # dual: far more features than texts, 4 times faster; its coordinate order is random, hence the seed
    model = LogisticRegression(C=1.0, solver="liblinear", dual=True, max_iter=1_000, random_state=seed)
    model.fit(features[fit_rows], sides[fit_rows])
    truth, ranks = sides[held_rows], rankdata(model.decision_function(features[held_rows]))
    positives = int(truth.sum())
    negatives = len(truth) - positives
    auc = (ranks[truth == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives)
    return float(auc), held_rows, model


def _balanced(texts: Sequence[str], size: int, rng: np.random.Generator) -> list[str]:
    if len(texts) <= size:
        return list(texts)
    return [texts[i] for i in sorted(rng.choice(len(texts), size=size, replace=False))]


def _distinct(texts: Sequence[str], cleaning: CleaningConfig | None) -> dict[str, str]:
    """Each distinct cleaned text (what the model sees: ``data.duplicate_keys``) and the first text that gave it."""
    distinct: dict[str, str] = {}
    for key, text in zip(duplicate_keys(list(texts), cleaning), texts, strict=True):
        distinct.setdefault(key, text)
    return distinct


def text_drift(
    captured: Sequence[str],
    reference: Sequence[str],
    *,
    cleaning: CleaningConfig | None = None,
    text_drift_auc_threshold: float = TEXT_DRIFT_AUC_THRESHOLD,
    min_texts_for_fixed_threshold: int = MIN_TEXTS_FOR_FIXED_THRESHOLD,
    permutations: int = PERMUTATIONS,
    permutation_quantile: float = PERMUTATION_QUANTILE,
    drift_typical_texts: int = DRIFT_TYPICAL_TEXTS,
    min_texts: int = MIN_TEXTS,
    seed: int = MONITOR_SEED,
) -> dict[str, Any]:
    """How well a classifier tells ``captured`` texts from ``reference`` texts: ROC AUC on a held-out half.

    The classifier reads the texts as the model does, cleaned with ``cleaning`` (the model tokenizer's; default
    cleaning when None): a change the model never sees (apostrophe characters, which user a handle names, which
    URL) is no drift. Each side's repeats are dropped (a text on both halves of the split would score memory, not a
    kind of text) and the larger side is subsampled to the smaller's size (seeded), so an AUC means the same
    whatever the traffic. TF-IDF is fitted on both sides together; the logistic regression on a stratified half,
    scored on the other. Drift when the AUC exceeds ``text_drift_auc_threshold`` if both sides have at least
    ``min_texts_for_fixed_threshold`` distinct texts; with fewer, an AUC's noise is wider than that margin, so
    drift is an AUC above the ``permutation_quantile`` of ``permutations`` fits on the same texts with the sides
    shuffled.

    Returns ``measurable`` (True), ``auc``, ``threshold``, ``threshold_kind`` (``fixed`` or ``permutation``),
    ``drift``, ``n_captured``, ``n_reference`` (distinct texts), ``n_per_side`` (after balancing), ``null``
    (the permutation AUCs' ``median``, the ``quantile`` used, ``p_value``; None with a fixed threshold),
    ``typical_texts`` (held-out captured texts, as sent, that the classifier found most captured-like: ``text``,
    ``probability``) and ``typical_terms`` (the words that most mark a text as captured).
    """
    captured_keys, reference_keys = _distinct(captured, cleaning), _distinct(reference, cleaning)
    check_enough(len(captured_keys), min_texts, "distinct captured")
    check_enough(len(reference_keys), min_texts, "distinct reference")
    rng = np.random.default_rng(seed)
    size = min(len(captured_keys), len(reference_keys))
    keys = _balanced(list(captured_keys), size, rng) + _balanced(list(reference_keys), size, rng)
    sides = np.array([1] * size + [0] * size)
    vectorizer = _vectorizer()
    features = vectorizer.fit_transform(keys).tocsr()  # unsupervised: the same for every shuffle below
    features.sort_indices()  # once, not in every fit

    auc, held_rows, model = _held_out_auc(features, sides, seed)
    probability = model.predict_proba(features[held_rows])[:, 1]
    fixed = size >= min_texts_for_fixed_threshold
    null = None
    if fixed:
        threshold = float(text_drift_auc_threshold)
    else:
        if permutations < 1:
            raise ParamError(f"permutations must be at least 1 below {min_texts_for_fixed_threshold:,} texts a side")
        null_aucs = np.array(
            [_held_out_auc(features, rng.permutation(sides), int(rng.integers(2**31)))[0] for _ in range(permutations)]
        )
        threshold = float(np.quantile(null_aucs, permutation_quantile))
        null = {
            "permutations": int(permutations),
            "median": float(np.median(null_aucs)),
            "quantile": float(permutation_quantile),
            "p_value": float((1 + (null_aucs >= auc).sum()) / (1 + permutations)),
        }

    held = sorted(
        ((captured_keys[keys[row]], float(p)) for row, p in zip(held_rows, probability, strict=True) if sides[row]),
        key=lambda item: -item[1],
    )
    return {
        "measurable": True,
        "auc": auc,
        "threshold": threshold,
        "threshold_kind": "fixed" if fixed else "permutation",
        "drift": bool(auc > threshold),
        "n_captured": len(captured_keys),
        "n_reference": len(reference_keys),
        "n_per_side": size,
        "null": null,
        "typical_texts": [{"text": text, "probability": p} for text, p in held[:drift_typical_texts]],
        "typical_terms": _typical_terms(vectorizer, model),
    }


def _typical_terms(vectorizer, model, count: int = TYPICAL_TERMS) -> list[str]:
    """The word features with the largest positive weights (towards "captured"), punctuation left out."""
    words = vectorizer.transformer_list[0][1].get_feature_names_out()
    weights = model.coef_[0][: len(words)]  # the union puts the word features first
    order = [i for i in np.argsort(-weights) if weights[i] > 0 and any(c.isalpha() for c in str(words[i]))]
    return [str(words[i]) for i in order[:count]]  # words, not punctuation


def text_drift_not_measurable(reason: str = HASH_MODE_REASON) -> dict[str, Any]:
    """The text-drift result when there are no texts to classify (hash mode)."""
    return {"measurable": False, "reason": reason, "auc": None, "threshold": None, "drift": None}


# ---- 2. prediction drift -------------------------------------------------------------------------------------------
def label_shares(labels: Sequence[str], label_order: Sequence[str] = LABELS) -> np.ndarray:
    """The share of each of ``label_order`` among ``labels`` (DatasetError on a label outside it)."""
    index = {label: i for i, label in enumerate(label_order)}
    unknown = sorted({label for label in labels if label not in index})
    if unknown:
        raise DatasetError(f"unknown label(s) {', '.join(map(repr, unknown))}; expected {', '.join(label_order)}")
    counts = np.bincount([index[label] for label in labels], minlength=len(index)).astype(float)
    return counts / counts.sum() if counts.sum() else counts


def js_distance(p: Sequence[float], q: Sequence[float]) -> float:
    """Jensen-Shannon distance of two distributions, base 2: 0 when equal, 1 when they share no outcome."""
    from scipy.spatial.distance import jensenshannon

    value = float(jensenshannon(np.asarray(p, dtype=float), np.asarray(q, dtype=float), base=2))
    return 0.0 if math.isnan(value) else min(max(value, 0.0), 1.0)  # rounding can give -0.0 or 1.0000001


def _js_distances(rows: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``js_distance`` of each row of ``rows`` (distributions) to ``q``, vectorised."""
    middle = (rows + q) / 2

    def kl(a: np.ndarray) -> np.ndarray:
        terms = np.divide(a, middle, out=np.ones_like(middle), where=(a > 0) & (middle > 0))
        return (a * np.log2(terms)).sum(axis=1)

    return np.sqrt(np.clip((kl(rows) + kl(np.broadcast_to(q, rows.shape))) / 2, 0.0, 1.0))


def chance_js(
    shares: Sequence[float], n: int, quantile: float = 0.95, draws: int = CHANCE_DRAWS, seed: int = MONITOR_SEED
) -> float | None:
    """The JS distance ``n`` answers drawn from ``shares`` themselves reach with probability 1 - ``quantile``: what
    chance alone gives at this many texts (about 0.11 at 100 texts, 0.05 at 600, for shares like the model's)."""
    q = np.asarray(shares, dtype=float)
    if n == 0 or not q.sum():
        return None
    counts = np.random.default_rng(seed).multinomial(n, q / q.sum(), size=draws)
    return float(np.quantile(_js_distances(counts / n, q), quantile))


def prediction_drift(
    captured: Sequence[str],
    reference: Sequence[str],
    *,
    labels: Sequence[str] = LABELS,
    prediction_js_threshold: float = PREDICTION_JS_THRESHOLD,
    seed: int = MONITOR_SEED,
) -> dict[str, Any]:
    """The model's captured answers against its answers on the reference texts: ``js`` (distance, base 2),
    ``drift`` (``js >= prediction_js_threshold``), both sides' shares per label (``captured``, ``reference``), and
    ``chance_p95`` (``chance_js``: the distance chance alone reaches one time in 20 at this many texts; informational,
    the report warns when it is above the threshold)."""
    p, q = label_shares(captured, labels), label_shares(reference, labels)
    js = js_distance(p, q)
    return {
        "js": js,
        "threshold": float(prediction_js_threshold),
        "drift": bool(js >= prediction_js_threshold),
        "chance_p95": chance_js(q, len(captured), seed=seed),
        "captured": {label: float(share) for label, share in zip(labels, p, strict=True)},
        "reference": {label: float(share) for label, share in zip(labels, q, strict=True)},
        "n_captured": len(captured),
        "n_reference": len(reference),
    }


# ---- 3. unknown tokens and lengths ---------------------------------------------------------------------------------
def token_facts(texts: Sequence[str], tokenizer: TweetTokenizer) -> pd.DataFrame:
    """Per text: ``length`` (characters as sent), ``tokens`` (after the model's cleaning) and ``unknown_tokens``
    (those not in its word vocabulary: the model reads them as one shared unknown id). The service's hash mode
    records the same three numbers per text."""
    vocabulary = tokenizer.word_index
    token_lists = tokenizer.tokenize(texts)
    return pd.DataFrame(
        {
            "length": [len(text) for text in texts],
            "tokens": [len(tokens) for tokens in token_lists],
            "unknown_tokens": [sum(token not in vocabulary for token in tokens) for tokens in token_lists],
        },
        dtype="float64",
    )


def captured_facts(lines: Sequence[Mapping[str, Any]], tokenizer: TweetTokenizer) -> pd.DataFrame:
    """``token_facts`` of every line: computed from its text, or read from a hashed line's ``text_length``,
    ``tokens`` and ``unknown_tokens`` (NaN where a line lacks one)."""
    with_text = np.array([isinstance(line.get("text"), str) for line in lines], dtype=bool)
    facts = np.array(
        [[_number(line.get(key)) for key in ("text_length", "tokens", "unknown_tokens")] for line in lines],
        dtype=float,
    ).reshape(len(lines), len(FACT_COLUMNS))
    if with_text.any():
        facts[with_text] = token_facts(captured_texts(lines), tokenizer)[list(FACT_COLUMNS)].to_numpy()
    return pd.DataFrame(facts, columns=list(FACT_COLUMNS))


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else math.nan


def oov_rate(facts: pd.DataFrame) -> float | None:
    """Unknown tokens over all tokens (texts without counts left out); None when there are no tokens."""
    known = facts.dropna(subset=["tokens", "unknown_tokens"])
    total = float(known["tokens"].sum())
    return float(known["unknown_tokens"].sum()) / total if total else None


def length_summary(lengths: pd.Series) -> dict[str, float | None]:
    """Mean and ``LENGTH_QUANTILES`` of text lengths in characters (NaN left out)."""
    values = lengths.dropna().to_numpy(dtype=float)
    if not len(values):
        return {"n": 0, "mean": None, **{f"p{round(q * 100)}": None for q in LENGTH_QUANTILES}}
    quantiles = np.quantile(values, LENGTH_QUANTILES)
    return {
        "n": int(len(values)),
        "mean": float(values.mean()),
        **{f"p{round(q * 100)}": float(v) for q, v in zip(LENGTH_QUANTILES, quantiles, strict=True)},
    }


def vocabulary_and_length(
    captured: pd.DataFrame,
    reference: pd.DataFrame,
    *,
    oov_rate_increase_threshold: float = OOV_RATE_INCREASE_THRESHOLD,
) -> dict[str, Any]:
    """Both sides' unknown-token rate and lengths (``token_facts`` frames). ``oov_drift`` when the captured rate
    exceeds the reference's by more than ``oov_rate_increase_threshold`` (absolute); None without token counts."""
    rate, reference_rate = oov_rate(captured), oov_rate(reference)
    increase = None if rate is None or reference_rate is None else rate - reference_rate
    return {
        "oov_rate": rate,
        "reference_oov_rate": reference_rate,
        "oov_rate_increase": increase,
        "threshold": float(oov_rate_increase_threshold),
        "oov_drift": None if increase is None else bool(increase > oov_rate_increase_threshold),
        "texts_without_token_counts": int(captured[["tokens", "unknown_tokens"]].isna().any(axis=1).sum()),
        "length": length_summary(captured["length"]),
        "reference_length": length_summary(reference["length"]),
    }


# ---- 4. live quality -----------------------------------------------------------------------------------------------
def text_sha256(text: str) -> str:
    """The hash a hashed capture line carries for its text (``text_sha256``): sha256 of its UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_truth(path: str | Path) -> pd.DataFrame:
    """A file of true labels for captured answers (``--labels``): CSV, or Parquet by its name, with ``label_text``
    and ``request_id`` or ``text`` (``match_truth``)."""
    path = Path(path)
    try:
        frame = (
            pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, dtype=str, keep_default_na=False)
        )
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{path.name} cannot be read as labelled captures: {exc}") from None
    if LABEL_COLUMN not in frame.columns or not ({"request_id", TEXT_COLUMN} & set(frame.columns)):
        raise DatasetError(
            f"{path.name} needs a {LABEL_COLUMN} column and a request_id or {TEXT_COLUMN} column "
            f"(found: {', '.join(map(str, frame.columns))})"
        )
    return frame


def match_truth(lines: Sequence[Mapping[str, Any]], truth: pd.DataFrame) -> tuple[list[str], list[str]]:
    """The true and the answered labels of the captured lines ``truth`` labels (columns ``label_text`` and
    ``request_id``, else ``text``). By text, a hashed line matches through its ``text_sha256``; a text labelled
    twice counts with its first label; a line with no truth is left out."""
    if LABEL_COLUMN not in truth.columns:
        raise DatasetError(f"the labelled captures have no {LABEL_COLUMN} column")
    truth = truth.assign(**{LABEL_COLUMN: truth[LABEL_COLUMN].astype(str).str.strip().str.lower()})
    if "request_id" in truth.columns:
        known = dict(zip(truth["request_id"].astype(str), truth[LABEL_COLUMN], strict=True))
        keys = [str(line.get("request_id")) for line in lines]
    elif TEXT_COLUMN in truth.columns:
        known = {}
        for text, label in zip(truth[TEXT_COLUMN].astype(str), truth[LABEL_COLUMN], strict=True):
            known.setdefault(text_sha256(text), label)
        keys = [
            text_sha256(line["text"]) if isinstance(line.get("text"), str) else str(line.get("text_sha256"))
            for line in lines
        ]
    else:
        raise DatasetError(f"the labelled captures need a request_id or a {TEXT_COLUMN} column")
    pairs = [(known[key], str(line.get("label"))) for key, line in zip(keys, lines, strict=True) if key in known]
    return [t for t, _ in pairs], [p for _, p in pairs]


def live_quality(
    y_true: Sequence[str],
    y_pred: Sequence[str],
    *,
    recorded_macro_f1: float | None = None,
    labels: Sequence[str] = LABELS,
    resamples: int = RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = MONITOR_SEED,
) -> dict[str, Any]:
    """Macro-F1 of the model's captured answers ``y_pred`` against the true labels, with a percentile bootstrap
    interval (the texts resampled, as ``comparison.paired_bootstrap`` does), beside the run's recorded test
    macro-F1. ``quality_below_recorded``: the whole interval lies below the recorded value. With no labelled
    texts every number is None."""
    n = len(y_true)
    if len(y_pred) != n:
        raise ValueError("the true and the answered labels must be equally long")
    result: dict[str, Any] = {
        "n": n,
        "macro_f1": None,
        "low": None,
        "high": None,
        "confidence": confidence,
        "resamples": resamples,
        "seed": seed,
        "recorded_test_macro_f1": recorded_macro_f1,
        "quality_below_recorded": None,
    }
    if n == 0:
        return result
    truth, answered = (np.array(_ids(values, labels)) for values in (y_true, y_pred))
    rng, scores = np.random.default_rng(seed), []
    for start in range(0, resamples, RESAMPLES_PER_CHUNK):
        picks = rng.integers(0, n, size=(min(RESAMPLES_PER_CHUNK, resamples - start), n))
        scores.append(_macro_f1_rows(truth[picks], answered[picks], len(labels)))
    tail = (1 - confidence) / 2
    low, high = np.quantile(np.concatenate(scores), [tail, 1 - tail])
    result.update(
        macro_f1=float(_macro_f1_rows(truth[None], answered[None], len(labels))[0]), low=float(low), high=float(high)
    )
    if recorded_macro_f1 is not None:
        result["quality_below_recorded"] = bool(high < recorded_macro_f1)
    return result


def _ids(values: Sequence[str], labels: Sequence[str]) -> list[int]:
    index = {label: i for i, label in enumerate(labels)}
    unknown = sorted({value for value in values if value not in index})
    if unknown:
        raise DatasetError(f"unknown label(s) {', '.join(map(repr, unknown))}; expected {', '.join(labels)}")
    return [index[value] for value in values]


# ---- the reference and the whole measurement -----------------------------------------------------------------------
@dataclass
class Reference:
    """What the captures are measured against: the served run's test texts, its model's labels for them, its
    tokenizer and its recorded test macro-F1."""

    run_id: str
    texts: list[str]
    predictions: list[str]
    tokenizer: TweetTokenizer
    labels: list[str]
    recorded_macro_f1: float | None = None

    @cached_property
    def facts(self) -> pd.DataFrame:
        """``token_facts`` of the reference texts (computed once)."""
        return token_facts(self.texts, self.tokenizer)


def load_reference(
    store: Store, run_id: str, workdir: Path, loader: Callable[[Path], Predictor] | None = None
) -> Reference:
    """The reference of a succeeded run, every file checked against its manifest: its test split, the model's
    labels for it (``loader``: ONNX Runtime by default, Keras for a run without model.onnx), the tokenizer, the
    recorded test macro-F1. Writes only the model folder, into ``workdir``."""
    manifest = record.succeeded_manifest(store, run_id)
    test = read_split(io.BytesIO(record.read_verified(store, run_id, record.split_path("test"), manifest)))
    metrics = json.loads(record.read_verified(store, run_id, record.METRICS, manifest))
    model_dir = record.download_model(store, run_id, Path(workdir) / "model")
    return reference_of(run_id, test, model_dir, (metrics.get("model") or {}).get("macro_f1"), loader)


def reference_from_files(
    run_id: str, reference_path: str | Path, model_dir: str | Path, recorded_macro_f1: float | None
) -> Reference:
    """The reference as ``monitor`` stages it for the notebook: the run's test split and model folder as files."""
    return reference_of(run_id, read_split(Path(reference_path)), Path(model_dir), recorded_macro_f1)


def reference_of(
    run_id: str,
    test: pd.DataFrame,
    model_dir: Path,
    recorded_macro_f1: float | None,
    loader: Callable[[Path], Predictor] | None = None,
) -> Reference:
    """A run's reference from its test split and model folder: the model labels the test texts."""
    from ..inference import ONNX_FILE

    if loader is not None:
        predictor = loader(model_dir)
    elif (model_dir / ONNX_FILE).is_file():
        from ..inference.predictor import load_predictor

        predictor = load_predictor(model_dir)
    else:
        from .keras_predictor import load_keras_predictor

        predictor = load_keras_predictor(model_dir)
    texts = list(test[TEXT_COLUMN])
    probabilities = predictor.predict_proba(texts)
    return Reference(
        run_id=run_id,
        texts=texts,
        predictions=[predictor.labels[i] for i in probabilities.argmax(axis=1)],
        tokenizer=predictor.tokenizer,
        labels=list(predictor.labels),
        recorded_macro_f1=recorded_macro_f1,
    )


def monitor(
    lines: Sequence[Mapping[str, Any]],
    reference: Reference,
    *,
    truth: pd.DataFrame | None = None,
    **parameters: Any,
) -> dict[str, Any]:
    """Every measurement of captured ``lines`` against ``reference``, joined by ``summary``. ``truth``: labelled
    captured texts for ``live_quality`` (``match_truth``). ``parameters``: any of ``PARAMETERS`` by name.
    Raises TooFewTexts below ``min_texts`` captured lines."""
    unknown = sorted(set(parameters) - set(PARAMETERS))
    if unknown:
        raise ParamError(f"unknown monitoring parameter(s): {', '.join(unknown)}")
    p = {**PARAMETERS, **parameters}
    check_enough(len(lines), p["min_texts"])
    mode = capture_mode(lines)
    texts = captured_texts(lines)
    if mode == "hash":
        text = text_drift_not_measurable()
    elif len(texts) < p["min_texts"]:
        text = text_drift_not_measurable(f"not measurable: only {len(texts):,} of the lines carry their text")
    else:
        text = text_drift(
            texts,
            reference.texts,
            cleaning=reference.tokenizer.cleaning,
            **{k: p[k] for k in ("text_drift_auc_threshold", "min_texts_for_fixed_threshold", "permutations")},
            **{k: p[k] for k in ("permutation_quantile", "drift_typical_texts", "min_texts")},
            seed=p["monitor_seed"],
        )
    prediction = prediction_drift(
        captured_labels(lines),
        reference.predictions,
        labels=reference.labels,
        prediction_js_threshold=p["prediction_js_threshold"],
        seed=p["monitor_seed"],
    )
    vocabulary = vocabulary_and_length(
        captured_facts(lines, reference.tokenizer),
        reference.facts,
        oov_rate_increase_threshold=p["oov_rate_increase_threshold"],
    )
    quality = None
    if truth is not None:
        y_true, y_pred = match_truth(lines, truth)
        quality = live_quality(
            y_true,
            y_pred,
            recorded_macro_f1=reference.recorded_macro_f1,
            labels=reference.labels,
            resamples=p["resamples"],
            confidence=p["confidence"],
            seed=p["monitor_seed"],
        )
    return summary(
        n_texts=len(lines),
        mode=mode,
        text=text,
        prediction=prediction,
        vocabulary=vocabulary,
        quality=quality,
        thresholds=p,
        reference_run_id=reference.run_id,
    )


def summary(
    *,
    n_texts: int,
    mode: str,
    text: Mapping[str, Any],
    prediction: Mapping[str, Any],
    vocabulary: Mapping[str, Any],
    quality: Mapping[str, Any] | None = None,
    thresholds: Mapping[str, Any] | None = None,
    reference_run_id: str | None = None,
) -> dict[str, Any]:
    """The one document for ``drift.json`` and the report: the headline numbers, ``drift`` (text, prediction or
    unknown-token drift), ``drift_reasons``, ``sentences`` saying in plain words what moved, and the four
    results in full under ``text``, ``prediction``, ``vocabulary``, ``live_quality``."""
    reasons = [
        name
        for name, flag in (
            ("text", text.get("drift")),
            ("predictions", prediction.get("drift")),
            ("unknown words", vocabulary.get("oov_drift")),
        )
        if flag
    ]
    document = {
        "n_texts": int(n_texts),
        "mode": mode,
        "reference_run_id": reference_run_id,
        "drift": bool(reasons),
        "drift_reasons": reasons,
        "text_drift": text.get("drift"),
        "text_drift_measurable": bool(text.get("measurable")),
        "text_drift_auc": text.get("auc"),
        "text_drift_threshold": text.get("threshold"),
        "text_drift_threshold_kind": text.get("threshold_kind"),
        "prediction_drift": prediction["drift"],
        "prediction_js": prediction["js"],
        "prediction_js_chance_p95": prediction.get("chance_p95"),
        "oov_drift": vocabulary["oov_drift"],
        "oov_rate": vocabulary["oov_rate"],
        "reference_oov_rate": vocabulary["reference_oov_rate"],
        "mean_length": vocabulary["length"]["mean"],
        "reference_mean_length": vocabulary["reference_length"]["mean"],
        "live_macro_f1": quality["macro_f1"] if quality else None,
        "quality_below_recorded": quality["quality_below_recorded"] if quality else None,
        "thresholds": dict(thresholds if thresholds is not None else PARAMETERS),
        "sentences": sentences(n_texts, text, prediction, vocabulary, quality, reasons),
        "text": dict(text),
        "prediction": dict(prediction),
        "vocabulary": dict(vocabulary),
        "live_quality": dict(quality) if quality else None,
    }
    return document


def sentences(
    n_texts: int,
    text: Mapping[str, Any],
    prediction: Mapping[str, Any],
    vocabulary: Mapping[str, Any],
    quality: Mapping[str, Any] | None,
    reasons: Sequence[str],
) -> list[str]:
    """What moved, in plain words, headline first."""
    out = [
        f"Drift in {n_texts:,} captured texts: {', '.join(reasons)}."
        if reasons
        else f"No drift found in {n_texts:,} captured texts."
    ]
    if not text.get("measurable"):
        out.append(f"Text drift is {text.get('reason', 'not measurable')}.")
    else:
        how = (
            f"drift above the fixed threshold {text['threshold']:.2f}"
            if text["threshold_kind"] == "fixed"
            else f"drift above {text['threshold']:.3f}, which {1 - text['null']['quantile']:.0%} of "
            f"{text['null']['permutations']} fits on the same texts with shuffled sides exceed"
        )
        if text["drift"]:
            terms = ", ".join(text.get("typical_terms") or []) or "none in particular"
            out.append(
                f"A classifier tells the captured texts from the reference tweets (ROC AUC {text['auc']:.3f}, {how}): "
                f"they are a different kind of text. Words that mark them: {terms}."
            )
        else:
            out.append(
                f"A classifier cannot tell the captured texts from the reference tweets (ROC AUC {text['auc']:.3f}, "
                f"{how})."
            )
    shares = ", ".join(
        f"{label} {prediction['reference'][label]:.0%} -> {prediction['captured'][label]:.0%}"
        for label in prediction["captured"]
    )
    verb = "shifted" if prediction["drift"] else "stayed close to the reference's"
    out.append(
        f"The model's answers {verb}: {shares} (Jensen-Shannon distance {prediction['js']:.3f}; "
        f"drift from {prediction['threshold']:g})."
    )
    chance = prediction.get("chance_p95")
    if chance is not None and chance >= prediction["threshold"]:
        out.append(
            f"With {prediction['n_captured']:,} texts chance alone reaches a distance of {chance:.3f} one time in 20, "
            "beyond the threshold: the prediction verdict is uncertain until more texts arrive."
        )
    rate, reference_rate = vocabulary["oov_rate"], vocabulary["reference_oov_rate"]
    if rate is None or reference_rate is None:
        out.append("The unknown-word rate is not measurable: the captures carry no token counts.")
    else:
        flag = "beyond" if vocabulary["oov_drift"] else "within"
        out.append(
            f"{rate:.1%} of the captured tokens are unknown to the model's vocabulary against {reference_rate:.1%} "
            f"of the reference's ({vocabulary['oov_rate_increase'] * 100:+.1f} points; {flag} the allowed rise of "
            f"{vocabulary['threshold'] * 100:.0f} points)."
        )
    length, reference_length = vocabulary["length"], vocabulary["reference_length"]
    if length["mean"] is not None and reference_length["mean"] is not None:
        out.append(
            f"Captured texts are {length['mean']:.0f} characters long on average (median {length['p50']:.0f}) "
            f"against {reference_length['mean']:.0f} (median {reference_length['p50']:.0f}) in the reference."
        )
    if quality and quality["n"]:
        recorded = quality["recorded_test_macro_f1"]
        against = "" if recorded is None else f" against the recorded test macro-F1 {recorded:.3f}"
        verdict = ": below it" if quality["quality_below_recorded"] else ""
        out.append(
            f"On {quality['n']:,} labelled captured texts macro-F1 is {quality['macro_f1']:.3f} "
            f"({quality['confidence']:.0%} interval {quality['low']:.3f} to {quality['high']:.3f}){against}{verdict}."
        )
    elif quality is not None:
        out.append("None of the labelled texts matched a captured answer: no live quality.")
    return out


# ---- the report's tables (notebooks/monitor.ipynb) -------------------------------------------------------------------
def text_drift_table(result: Mapping[str, Any]) -> Styler:
    """The domain classifier's AUC beside the threshold it had to beat, and the texts it was scored on."""
    text = result["text"]
    null = text.get("null") or {}
    row = {
        "ROC AUC (held-out half)": round(float(text["auc"]), 3),
        "threshold": round(float(text["threshold"]), 3),
        "threshold from": "fixed" if text["threshold_kind"] == "fixed" else f"{null.get('permutations')} shuffles",
        "texts a side": int(text["n_per_side"]),
        "drift": "yes" if text["drift"] else "no",
    }
    return _shown(pd.DataFrame([row]))


def _shown(frame: pd.DataFrame) -> Styler:
    """A report table: no row numbers."""
    return frame.style.hide(axis="index")


def prediction_table(result: Mapping[str, Any]) -> Styler:
    """Each label's share among the captured answers and among the model's answers on the reference texts."""
    prediction = result["prediction"]
    rows = [
        {
            "label": label,
            "captured": f"{prediction['captured'][label]:.1%}",
            "reference": f"{prediction['reference'][label]:.1%}",
        }
        for label in prediction["captured"]
    ]
    rows.append(
        {
            "label": "Jensen-Shannon distance",
            "captured": f"{prediction['js']:.3f}",
            "reference": f"drift from {prediction['threshold']:g}",
        }
    )
    return _shown(pd.DataFrame(rows))


def vocabulary_table(result: Mapping[str, Any]) -> Styler:
    """Unknown-token rate and text lengths, captured against reference."""
    vocabulary = result["vocabulary"]

    def share(value: Any) -> str:
        return "–" if value is None else f"{value:.1%}"

    def length(summary: Mapping[str, Any], key: str) -> str:
        value = summary.get(key)
        return "–" if value is None else f"{value:.0f}"

    captured, reference = vocabulary["length"], vocabulary["reference_length"]
    rows = [
        {
            "measure": "unknown tokens",
            "captured": share(vocabulary["oov_rate"]),
            "reference": share(vocabulary["reference_oov_rate"]),
        }
    ]
    rows += [
        {
            "measure": f"length, {name} (characters)",
            "captured": length(captured, key),
            "reference": length(reference, key),
        }
        for name, key in (("mean", "mean"), ("median", "p50"), ("90th percentile", "p90"))
    ]
    return _shown(pd.DataFrame(rows))


def quality_table(result: Mapping[str, Any]) -> Styler:
    """Live macro-F1 with its interval beside the run's recorded test macro-F1."""
    quality = result["live_quality"]
    recorded = quality.get("recorded_test_macro_f1")
    row = {
        "labelled answers": int(quality["n"]),
        "live macro-F1": "–" if quality["macro_f1"] is None else f"{quality['macro_f1']:.3f}",
        f"{quality['confidence']:.0%} interval": "–"
        if quality["low"] is None
        else f"[{quality['low']:.3f}, {quality['high']:.3f}]",
        "recorded test macro-F1": "–" if recorded is None else f"{recorded:.3f}",
    }
    return _shown(pd.DataFrame([row]))
